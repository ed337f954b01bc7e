// Parsing and expansion of ghz-style call templates (see call_template.h).
#include "tests/bench/pdbench/call_template.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace pdserve::bench {
namespace {

absl::BitGen& ThreadBitGen() {
  thread_local absl::BitGen gen;
  return gen;
}

std::string RandomUuid() {
  absl::BitGen& gen = ThreadBitGen();
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                          // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);      // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xFFFF,
                         hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

std::string RandomString(int length) {
  static constexpr char kCharset[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  absl::BitGen& gen = ThreadBitGen();
  // ghz picks a random length in [2, 16] when the length is not positive.
  if (length <= 0) length = absl::Uniform<int>(absl::IntervalClosed, gen, 2, 16);
  std::string out(length, ' ');
  for (char& c : out) c = kCharset[absl::Uniform<size_t>(gen, 0, sizeof(kCharset) - 1)];
  return out;
}

}  // namespace

absl::StatusOr<CallTemplate> CallTemplate::Parse(const std::string& text) {
  static const std::pair<const char*, Kind> kFields[] = {
      {".RequestNumber", Kind::kRequestNumber},
      {".WorkerID", Kind::kWorkerId},
      {".FullyQualifiedName", Kind::kFullyQualifiedName},
      {".MethodName", Kind::kMethodName},
      {".ServiceName", Kind::kServiceName},
      {".InputName", Kind::kInputName},
      {".OutputName", Kind::kOutputName},
      {".Timestamp", Kind::kTimestamp},
      {".TimestampUnix", Kind::kTimestampUnix},
      {".TimestampUnixMilli", Kind::kTimestampUnixMilli},
      {".TimestampUnixNano", Kind::kTimestampUnixNano},
      {".UUID", Kind::kUuid},
      {"newUUID", Kind::kUuid},
  };
  CallTemplate t;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      t.segments_.push_back({Kind::kText, text.substr(pos), 0});
      break;
    }
    if (open > pos) t.segments_.push_back({Kind::kText, text.substr(pos, open - pos), 0});
    const size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("template: unterminated '{{' at offset ", open));
    }
    const std::string action(absl::StripAsciiWhitespace(text.substr(open + 2, close - open - 2)));
    Segment segment;
    bool known = false;
    for (const auto& [name, kind] : kFields) {
      if (action == name) {
        segment.kind = kind;
        known = true;
        break;
      }
    }
    if (!known) {
      std::vector<std::string> words = absl::StrSplit(action, ' ', absl::SkipEmpty());
      if (words.size() == 2 && words[0] == "randomString" &&
          absl::SimpleAtoi(words[1], &segment.length)) {
        segment.kind = Kind::kRandomString;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("template: unsupported action '{{", action, "}}'"));
    }
    t.segments_.push_back(std::move(segment));
    t.has_actions_ = true;
    pos = close + 2;
  }
  return t;
}

std::string CallTemplate::Expand(const TemplateContext& c) const {
  std::string out;
  for (const Segment& s : segments_) {
    switch (s.kind) {
      case Kind::kText: out += s.text; break;
      case Kind::kRequestNumber: absl::StrAppend(&out, c.request_number); break;
      case Kind::kWorkerId: out += c.worker_id; break;
      case Kind::kFullyQualifiedName: out += c.fully_qualified_name; break;
      case Kind::kMethodName: out += c.method_name; break;
      case Kind::kServiceName: out += c.service_name; break;
      case Kind::kInputName: out += c.input_name; break;
      case Kind::kOutputName: out += c.output_name; break;
      case Kind::kTimestamp:
        out += absl::FormatTime(absl::RFC3339_sec, c.now, absl::UTCTimeZone());
        break;
      case Kind::kTimestampUnix: absl::StrAppend(&out, absl::ToUnixSeconds(c.now)); break;
      case Kind::kTimestampUnixMilli: absl::StrAppend(&out, absl::ToUnixMillis(c.now)); break;
      case Kind::kTimestampUnixNano: absl::StrAppend(&out, absl::ToUnixNanos(c.now)); break;
      case Kind::kUuid: out += RandomUuid(); break;
      case Kind::kRandomString: out += RandomString(s.length); break;
    }
  }
  return out;
}

}  // namespace pdserve::bench
