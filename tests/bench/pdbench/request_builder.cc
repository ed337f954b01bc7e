// Request construction from ghz data with compiled-in descriptors (see request_builder.h).
#include "tests/bench/pdbench/request_builder.h"

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "pdserve/inference/v1/inference.pb.h"
#include "pdserve/kvcache/v1/kvcache.pb.h"
#include "decoder/status_macros.h"

namespace pdserve::bench {
namespace {

namespace gpb = ::google::protobuf;

// Touching one descriptor per file makes the linker keep the generated code, whose static
// initializers register every pdserve descriptor in the generated pool.
void EnsureDescriptorsLinked() {
  static const bool kLinked = [] {
    (void)pdserve::kvcache::v1::LookupRequest::descriptor();
    (void)pdserve::inference::v1::GenerateRequest::descriptor();
    return true;
  }();
  (void)kLinked;
}

std::unique_ptr<gpb::Message> NewMessage(const gpb::Descriptor* type) {
  return std::unique_ptr<gpb::Message>(
      gpb::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

}  // namespace

absl::StatusOr<const gpb::MethodDescriptor*> FindMethod(const std::string& call) {
  EnsureDescriptorsLinked();
  PDSERVE_ASSIGN_OR_RETURN(auto split, SplitCallName(call));
  const gpb::ServiceDescriptor* service =
      gpb::DescriptorPool::generated_pool()->FindServiceByName(split.first);
  const gpb::MethodDescriptor* method =
      service == nullptr ? nullptr : service->FindMethodByName(split.second);
  if (method == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("call '", call, "' is not a method of pdserve's compiled-in services"));
  }
  return method;
}

std::string MethodPath(const gpb::MethodDescriptor& method) {
  return absl::StrCat("/", method.service()->full_name(), "/", method.name());
}

absl::StatusOr<std::string> MessageBytesToJson(const gpb::Descriptor& type,
                                               const std::string& bytes) {
  std::unique_ptr<gpb::Message> message = NewMessage(&type);
  if (!message->ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("bytes do not parse as ", type.full_name()));
  }
  std::string json;
  gpb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  auto status = gpb::util::MessageToJsonString(*message, &json, options);
  if (!status.ok()) return absl::InternalError(status.ToString());
  return json;
}

absl::StatusOr<RequestBuilder> RequestBuilder::Create(const GhzConfig& config,
                                                      const gpb::MethodDescriptor* method) {
  RequestBuilder b;
  b.method_ = method;
  std::vector<std::string> texts;
  if (config.data.is_array()) {
    for (const nlohmann::json& m : config.data) texts.push_back(m.dump());
  } else {
    texts.push_back(config.data.is_null() ? "{}" : config.data.dump());
  }
  for (const std::string& text : texts) {
    PDSERVE_ASSIGN_OR_RETURN(CallTemplate t, CallTemplate::Parse(text));
    Part part{std::move(t), "", false};
    if (!part.json.has_actions()) {
      PDSERVE_ASSIGN_OR_RETURN(part.serialized, b.Serialize(part, TemplateContext{}));
      part.precomputed = true;
    }
    b.parts_.push_back(std::move(part));
  }
  if (config.metadata.is_object()) {
    for (const auto& [key, value] : config.metadata.items()) {
      PDSERVE_ASSIGN_OR_RETURN(CallTemplate t, CallTemplate::Parse(value.get<std::string>()));
      b.metadata_.emplace_back(key, std::move(t));
    }
  }
  return b;
}

TemplateContext RequestBuilder::Context(int64_t request_number,
                                        const std::string& worker_id) const {
  TemplateContext c;
  c.request_number = request_number;
  c.worker_id = worker_id;
  c.fully_qualified_name = method_->full_name();
  c.method_name = method_->name();
  c.service_name = method_->service()->name();
  c.input_name = method_->input_type()->name();
  c.output_name = method_->output_type()->name();
  c.now = absl::Now();
  return c;
}

absl::StatusOr<std::string> RequestBuilder::Serialize(const Part& part,
                                                      const TemplateContext& context) const {
  if (part.precomputed) return part.serialized;
  const std::string json = part.json.Expand(context);
  std::unique_ptr<gpb::Message> message = NewMessage(method_->input_type());
  auto status = gpb::util::JsonStringToMessage(json, message.get());
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data for ", method_->input_type()->full_name(), ": ", status.ToString()));
  }
  return message->SerializeAsString();
}

absl::StatusOr<std::vector<std::string>> RequestBuilder::Build(
    int64_t request_number, const std::string& worker_id) const {
  const bool any_template = [this] {
    for (const Part& p : parts_) {
      if (p.json.has_actions()) return true;
    }
    return false;
  }();
  TemplateContext context;
  if (any_template) context = Context(request_number, worker_id);
  std::vector<std::string> out;
  if (method_->client_streaming()) {
    for (const Part& p : parts_) {
      PDSERVE_ASSIGN_OR_RETURN(std::string bytes, Serialize(p, context));
      out.push_back(std::move(bytes));
    }
  } else {
    const Part& p = parts_[static_cast<size_t>(request_number) % parts_.size()];
    PDSERVE_ASSIGN_OR_RETURN(std::string bytes, Serialize(p, context));
    out.push_back(std::move(bytes));
  }
  return out;
}

int64_t RequestBuilder::FixedPeriod() const {
  for (const Part& p : parts_) {
    if (!p.precomputed) return 0;
  }
  return method_->client_streaming() ? 1 : static_cast<int64_t>(parts_.size());
}

std::vector<std::pair<std::string, std::string>> RequestBuilder::Metadata(
    int64_t request_number, const std::string& worker_id) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (metadata_.empty()) return out;
  const TemplateContext context = Context(request_number, worker_id);
  for (const auto& [key, value] : metadata_) out.emplace_back(key, value.Expand(context));
  return out;
}

}  // namespace pdserve::bench
