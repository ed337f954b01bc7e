// `pdbench verify`: checks that every successful stream recorded by `pdbench serve --record`
// carries exactly the tokens the in-process reference decoder generates for the same prompt,
// greedy sampling and seed.
#include <algorithm>
#include <fstream>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "decoder/generate.h"
#include "decoder/model.h"
#include "nlohmann/json.hpp"
#include "tests/bench/pdbench/commands.h"
#include "decoder/status_macros.h"

namespace pdserve::bench {

absl::StatusOr<int> RunVerifyCommand(const VerifyCommand& c) {
  std::ifstream in(c.record_path);
  if (!in) return absl::NotFoundError(absl::StrCat("--record: cannot read ", c.record_path));
  PDSERVE_ASSIGN_OR_RETURN(std::unique_ptr<decoder::Model> model, decoder::Model::Load(c.model));
  int64_t checked = 0, mismatched = 0, skipped = 0;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("--record: bad line: ", line.substr(0, 80)));
    }
    if (j.value("status", "") != "OK") {
      ++skipped;
      continue;
    }
    if (c.limit > 0 && checked >= c.limit) break;
    const std::vector<int32_t> prompt = j["prompt_token_ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = j["token_ids"].get<std::vector<int32_t>>();
    decoder::SamplingParams sampling;
    sampling.temperature = 0;
    sampling.seed = j["seed"].get<uint64_t>();
    decoder::StopCondition stop;
    stop.max_new_tokens = j["max_new_tokens"].get<int>();
    PDSERVE_ASSIGN_OR_RETURN(decoder::GenerationResult want,
                             decoder::Generate(*model, prompt, sampling, stop));
    ++checked;
    if (want.tokens != got) {
      ++mismatched;
      if (mismatched <= 5) {
        std::cerr << "pdbench verify: request " << j["index"] << ": got " << got.size()
                  << " tokens, reference " << want.tokens.size() << " (first difference at "
                  << (std::mismatch(got.begin(), got.end(), want.tokens.begin(),
                                    want.tokens.end()).first - got.begin())
                  << ")\n";
      }
    }
  }
  std::cout << "{\"checked\": " << checked << ", \"mismatched\": " << mismatched
            << ", \"skipped_failed\": " << skipped << "}" << std::endl;
  return mismatched == 0 ? 0 : 3;
}

}  // namespace pdserve::bench
