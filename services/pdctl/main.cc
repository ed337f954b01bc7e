// pdctl: the command-line client. generate (through the router or --local), cache stats,
// health. Scripts rely on the flags and the --json output; keep them stable.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/server_flags.h"
#include "services/pdctl/admin_commands.h"
#include "services/pdctl/local_generate.h"
#include "services/pdctl/remote_generate.h"

ABSL_FLAG(std::string, target, "", "HOST:PORT of the server to talk to (the router for generate)");
ABSL_FLAG(bool, local, false, "generate in this process (the reference) instead of via --target");
ABSL_FLAG(std::string, model, "",
          "model: for --local, synthetic:<name> or a Hugging Face directory (default "
          "synthetic:tiny); with --target, the request's model ('' = the one served)");
ABSL_FLAG(std::string, prompt, "", "prompt text (tokenized by the server, no BOS added)");
ABSL_FLAG(std::string, prompt_ids, "", "prompt token ids, comma-separated");
ABSL_FLAG(uint32_t, max_new_tokens, 32, "tokens to generate at most");
ABSL_FLAG(double, temperature, 0.0, "0 = greedy");
ABSL_FLAG(int, top_k, 0, "0 = off");
ABSL_FLAG(double, top_p, 1.0, "nucleus mass in (0, 1]");
ABSL_FLAG(uint64_t, seed, 0, "sampling seed (same seed, same tokens)");
ABSL_FLAG(std::string, stop_ids, "", "comma-separated token ids that end generation");
ABSL_FLAG(bool, ignore_eos, false, "do not stop at the model's end-of-sequence token");
ABSL_FLAG(bool, json, false, "print JSON (for scripts) instead of text");
ABSL_FLAG(int, timeout_s, 600, "deadline of a generate call");
ABSL_FLAG(std::string, service, "", "health: the service to check ('' = the whole server)");
ABSL_FLAG(int, wait_ms, 0, "health: keep polling up to this long until SERVING");
ABSL_FLAG(int, model_threads, 0, "--local: kernel threads, 0 = one per core");

namespace pdserve::pdctl {
namespace {

constexpr char kUsage[] =
    "pdctl generate (--target=HOST:PORT | --local [--model=DIR_OR_NAME])\n"
    "               (--prompt_ids=1,2,3 | --prompt=TEXT) [--max_new_tokens=32]\n"
    "               [--temperature=0 --top_k=0 --top_p=1 --seed=0] [--stop_ids=..]\n"
    "               [--ignore_eos] [--json]\n"
    "pdctl cache stats --target=HOST:PORT [--json]\n"
    "pdctl health --target=HOST:PORT [--service=NAME] [--wait_ms=N] [--json]";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "pdctl: %s\nusage:\n%s\n", problem.c_str(), kUsage);
  return 2;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "pdctl: %s\n", status.ToString().c_str());
  return 1;
}

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& flag, const std::string& list) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", part, "' is not an id"));
    }
    ids.push_back(id);
  }
  return ids;
}

int Generate() {
  inference::v1::GenerateRequest request;
  const std::string text = absl::GetFlag(FLAGS_prompt);
  absl::StatusOr<std::vector<int32_t>> ids = ParseIds("prompt_ids", absl::GetFlag(FLAGS_prompt_ids));
  if (!ids.ok()) return Usage(std::string(ids.status().message()));
  if (text.empty() == ids->empty()) return Usage("give exactly one of --prompt and --prompt_ids");
  request.set_prompt_text(text);
  request.mutable_prompt_token_ids()->Add(ids->begin(), ids->end());
  inference::v1::SamplingParams* sampling = request.mutable_sampling();
  sampling->set_temperature(static_cast<float>(absl::GetFlag(FLAGS_temperature)));
  sampling->set_top_k(absl::GetFlag(FLAGS_top_k));
  sampling->set_top_p(static_cast<float>(absl::GetFlag(FLAGS_top_p)));
  sampling->set_seed(absl::GetFlag(FLAGS_seed));
  absl::StatusOr<std::vector<int32_t>> stops = ParseIds("stop_ids", absl::GetFlag(FLAGS_stop_ids));
  if (!stops.ok()) return Usage(std::string(stops.status().message()));
  request.mutable_limits()->set_max_new_tokens(absl::GetFlag(FLAGS_max_new_tokens));
  request.mutable_limits()->mutable_stop_token_ids()->Add(stops->begin(), stops->end());
  request.mutable_limits()->set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));

  absl::StatusOr<GenerateResult> result;
  if (absl::GetFlag(FLAGS_local)) {
    if (!absl::GetFlag(FLAGS_target).empty()) return Usage("give --local or --target, not both");
    LocalOptions options;
    options.model = absl::GetFlag(FLAGS_model).empty() ? "synthetic:tiny"
                                                        : absl::GetFlag(FLAGS_model);
    options.model_threads = absl::GetFlag(FLAGS_model_threads);
    result = LocalGenerate(options, request);
  } else {
    if (absl::GetFlag(FLAGS_target).empty()) return Usage("give --target=HOST:PORT or --local");
    request.set_model(absl::GetFlag(FLAGS_model));  // "" = whatever the router serves
    RemoteOptions options;
    options.target = absl::GetFlag(FLAGS_target);
    options.channel = common::ClientChannelOptionsFromFlags();
    options.auth_token = absl::GetFlag(FLAGS_auth_token);
    options.timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
    result = RemoteGenerate(options, request);
  }
  if (!result.ok()) return Fail(result.status());
  const std::string out = absl::GetFlag(FLAGS_json) ? FormatJson(*result) : FormatHuman(*result);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

AdminOptions AdminFromFlags() {
  AdminOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.channel = common::ClientChannelOptionsFromFlags();
  options.auth_token = absl::GetFlag(FLAGS_auth_token);
  return options;
}

int Health() {
  if (absl::GetFlag(FLAGS_target).empty()) return Usage("health needs --target=HOST:PORT");
  const std::string service = absl::GetFlag(FLAGS_service);
  absl::StatusOr<std::string> answer =
      CheckHealth(AdminFromFlags(), service, absl::Milliseconds(absl::GetFlag(FLAGS_wait_ms)));
  if (!answer.ok()) return Fail(answer.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"target\": \"%s\", \"service\": \"%s\", \"status\": \"%s\"}\n",
                absl::GetFlag(FLAGS_target).c_str(), service.c_str(), answer->c_str());
  } else {
    std::printf("%s\n", answer->c_str());
  }
  return *answer == "SERVING" ? 0 : 1;
}

int Cache(const std::vector<char*>& args) {
  if (args.size() < 3 || std::string(args[2]) != "stats") return Usage("unknown cache command");
  if (absl::GetFlag(FLAGS_target).empty()) return Usage("cache stats needs --target=HOST:PORT");
  absl::StatusOr<std::string> stats = CacheStats(AdminFromFlags(), absl::GetFlag(FLAGS_json));
  if (!stats.ok()) return Fail(stats.status());
  std::fwrite(stats->data(), 1, stats->size(), stdout);
  return 0;
}

}  // namespace
}  // namespace pdserve::pdctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(pdserve::pdctl::kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return pdserve::pdctl::Usage("missing command");
  const std::string command = args[1];
  if (command == "generate") return pdserve::pdctl::Generate();
  if (command == "health") return pdserve::pdctl::Health();
  if (command == "cache") return pdserve::pdctl::Cache(args);
  return pdserve::pdctl::Usage("unknown command '" + command + "'");
}
