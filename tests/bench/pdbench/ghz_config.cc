// Parsing of ghz configuration files (see ghz_config.h).
#include "tests/bench/pdbench/ghz_config.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "decoder/status_macros.h"

namespace pdserve::bench {
namespace {

absl::Status ReadUint(const nlohmann::json& j, const char* key, uint64_t* out) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  if (!j[key].is_number_unsigned() && !(j[key].is_number_integer() && j[key].get<int64_t>() >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: '", key, "' must be a non-negative integer, got ", j[key].dump()));
  }
  *out = j[key].get<uint64_t>();
  return absl::OkStatus();
}

absl::Status ReadDuration(const nlohmann::json& j, const char* key, absl::Duration* out) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  if (!j[key].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: '", key, "' must be a Go duration string, got ", j[key].dump()));
  }
  absl::StatusOr<absl::Duration> d = ParseGoDuration(j[key].get<std::string>());
  if (!d.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config: '", key, "': ", d.status().message()));
  }
  *out = *d;
  return absl::OkStatus();
}

absl::Status CheckData(const nlohmann::json& data) {
  if (data.is_null() || data.is_object()) return absl::OkStatus();
  if (data.is_array() && !data.empty()) {
    for (const nlohmann::json& e : data) {
      if (!e.is_object()) {
        return absl::InvalidArgumentError("config: 'data' array must hold only objects");
      }
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "config: 'data' must be an object or a non-empty array of objects");
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("bad duration '", text, "'"));
  }
  return d;
}

absl::StatusOr<GhzConfig> ParseGhzConfig(const std::string& json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config: not a JSON object");
  }
  GhzConfig c;
  if (!j.contains("call") || !j["call"].is_string() || j["call"].get<std::string>().empty()) {
    return absl::InvalidArgumentError("config: 'call' is missing or not a string");
  }
  c.call = j["call"].get<std::string>();
  PDSERVE_ASSIGN_OR_RETURN(auto split, SplitCallName(c.call));
  (void)split;
  auto read_string = [&j](const char* key, std::string* out) {
    if (j.contains(key) && j[key].is_string()) *out = j[key].get<std::string>();
  };
  read_string("name", &c.name);
  read_string("host", &c.host);
  read_string("proto", &c.proto);
  if (j.contains("import-paths") && j["import-paths"].is_array()) {
    for (const nlohmann::json& p : j["import-paths"]) {
      if (p.is_string()) c.import_paths.push_back(p.get<std::string>());
    }
  }
  if (j.contains("insecure") && j["insecure"].is_boolean()) c.insecure = j["insecure"].get<bool>();
  if (j.contains("data")) c.data = j["data"];
  PDSERVE_RETURN_IF_ERROR(CheckData(c.data));
  if (j.contains("metadata") && !j["metadata"].is_null()) {
    if (!j["metadata"].is_object()) {
      return absl::InvalidArgumentError("config: 'metadata' must be an object of strings");
    }
    for (const auto& [k, v] : j["metadata"].items()) {
      if (!v.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("config: metadata '", k, "' must be a string, got ", v.dump()));
      }
    }
    c.metadata = j["metadata"];
  }
  PDSERVE_RETURN_IF_ERROR(ReadUint(j, "total", &c.total));
  PDSERVE_RETURN_IF_ERROR(ReadUint(j, "concurrency", &c.concurrency));
  PDSERVE_RETURN_IF_ERROR(ReadUint(j, "connections", &c.connections));
  PDSERVE_RETURN_IF_ERROR(ReadUint(j, "rps", &c.rps));
  PDSERVE_RETURN_IF_ERROR(ReadDuration(j, "duration", &c.duration));
  PDSERVE_RETURN_IF_ERROR(ReadDuration(j, "timeout", &c.timeout));
  if (c.concurrency == 0) return absl::InvalidArgumentError("config: 'concurrency' must be >= 1");
  if (c.connections == 0) return absl::InvalidArgumentError("config: 'connections' must be >= 1");
  return c;
}

absl::StatusOr<GhzConfig> LoadGhzConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config: cannot read '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<GhzConfig> c = ParseGhzConfig(buffer.str());
  if (!c.ok()) {
    return absl::Status(c.status().code(), absl::StrCat(path, ": ", c.status().message()));
  }
  return c;
}

absl::StatusOr<std::pair<std::string, std::string>> SplitCallName(const std::string& call) {
  size_t cut = call.rfind('/');
  if (cut == std::string::npos) cut = call.rfind('.');
  if (cut == std::string::npos || cut == 0 || cut + 1 == call.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: 'call' must be package.Service.Method, got '", call, "'"));
  }
  return std::make_pair(call.substr(0, cut), call.substr(cut + 1));
}

}  // namespace pdserve::bench
