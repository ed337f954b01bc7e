// SentencePiece behind a C interface, built as a plugin that sentencepiece_adapter.cc loads with
// dlmopen into a link namespace of its own. Debian's libsentencepiece exports its own bundled
// copy of protobuf-lite; linked into a process that also uses libprotobuf (every gRPC binary),
// one copy shadows the other and the process crashes at start-up. In its own namespace
// SentencePiece binds to its own copy (and its own C++ runtime), and the rest of the process
// never sees it. Only C types cross the boundary; memory is freed on the side that allocated it.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sentencepiece_processor.h"

namespace {

void SetError(const std::string& message, char* error, size_t error_len) {
  if (error == nullptr || error_len == 0) return;
  std::strncpy(error, message.c_str(), error_len - 1);
  error[error_len - 1] = '\0';
}

}  // namespace

extern "C" {

// Returns a processor handle, or null with `error` set.
void* pdserve_spm_load(const char* path, char* error, size_t error_len) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (!status.ok()) {
    SetError(status.ToString(), error, error_len);
    delete sp;
    return nullptr;
  }
  return sp;
}

void pdserve_spm_free(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

// On success returns 1 and a malloc'd array in *ids (release with pdserve_spm_release).
int pdserve_spm_encode(const void* handle, const char* text, size_t text_len, int** ids,
                       size_t* num_ids, char* error, size_t error_len) {
  const auto* sp = static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
  std::vector<int> out;
  const auto status = sp->Encode(std::string(text, text_len), &out);
  if (!status.ok()) {
    SetError(status.ToString(), error, error_len);
    return 0;
  }
  *num_ids = out.size();
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
  if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  return 1;
}

// Returns malloc'd text (release with pdserve_spm_release); empty on failure.
char* pdserve_spm_decode(const void* handle, const int* ids, size_t num_ids, size_t* text_len) {
  const auto* sp = static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
  std::string text;
  if (!sp->Decode(std::vector<int>(ids, ids + num_ids), &text).ok()) text.clear();
  *text_len = text.size();
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

int pdserve_spm_piece_size(const void* handle) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}
int pdserve_spm_bos_id(const void* handle) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(handle)->bos_id();
}
int pdserve_spm_eos_id(const void* handle) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(handle)->eos_id();
}

void pdserve_spm_release(void* memory) { std::free(memory); }

}  // extern "C"
