// SentencePiece behind a plain std:: interface, reached through the plugin in
// sentencepiece_plugin.cc (see there for why it is loaded with dlopen).
#include "decoder/sentencepiece_adapter.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

namespace pdserve::decoder::internal {
namespace {

// The plugin's entry points; resolved once per process.
struct Plugin {
  void* (*load)(const char*, char*, size_t) = nullptr;
  void (*free_handle)(void*) = nullptr;
  int (*encode)(const void*, const char*, size_t, int**, size_t*, char*, size_t) = nullptr;
  char* (*decode)(const void*, const int*, size_t, size_t*) = nullptr;
  int (*piece_size)(const void*) = nullptr;
  int (*bos_id)(const void*) = nullptr;
  int (*eos_id)(const void*) = nullptr;
  void (*release)(void*) = nullptr;
  std::string error;
};

// Where the plugin is: $PDSERVE_SENTENCEPIECE_PLUGIN, the build tree's copy, or beside the
// running executable.
std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("PDSERVE_SENTENCEPIECE_PLUGIN")) paths.push_back(env);
#ifdef PDSERVE_SENTENCEPIECE_PLUGIN_PATH
  paths.push_back(PDSERVE_SENTENCEPIECE_PLUGIN_PATH);
#endif
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    paths.push_back(dir + "/libpdserve_sentencepiece_plugin.so");
    paths.push_back(dir + "/../lib/libpdserve_sentencepiece_plugin.so");
  }
  return paths;
}

template <typename F>
void Resolve(void* lib, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (*out == nullptr && error->empty()) *error = std::string("missing symbol ") + name;
}

const Plugin& GetPlugin() {
  static Plugin* plugin = [] {
    auto* p = new Plugin();
    void* lib = nullptr;
    std::string tried;
    for (const std::string& path : Candidates()) {
      lib = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib != nullptr) break;
      tried += " " + path + " (" + dlerror() + ")";
    }
    if (lib == nullptr) {
      p->error = "SentencePiece plugin not found; tried:" + tried;
      return p;
    }
    Resolve(lib, "pdserve_spm_load", &p->load, &p->error);
    Resolve(lib, "pdserve_spm_free", &p->free_handle, &p->error);
    Resolve(lib, "pdserve_spm_encode", &p->encode, &p->error);
    Resolve(lib, "pdserve_spm_decode", &p->decode, &p->error);
    Resolve(lib, "pdserve_spm_piece_size", &p->piece_size, &p->error);
    Resolve(lib, "pdserve_spm_bos_id", &p->bos_id, &p->error);
    Resolve(lib, "pdserve_spm_eos_id", &p->eos_id, &p->error);
    Resolve(lib, "pdserve_spm_release", &p->release, &p->error);
    return p;
  }();
  return *plugin;
}

}  // namespace

struct SentencePieceModel::Impl {
  void* handle = nullptr;
  ~Impl() {
    if (handle != nullptr) GetPlugin().free_handle(handle);
  }
};

SentencePieceModel::SentencePieceModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentencePieceModel::~SentencePieceModel() = default;

std::unique_ptr<SentencePieceModel> SentencePieceModel::Load(const std::string& path,
                                                             std::string* error) {
  const Plugin& plugin = GetPlugin();
  if (!plugin.error.empty()) {
    *error = plugin.error;
    return nullptr;
  }
  char message[1024] = {0};
  auto impl = std::make_unique<Impl>();
  impl->handle = plugin.load(path.c_str(), message, sizeof(message));
  if (impl->handle == nullptr) {
    *error = message;
    return nullptr;
  }
  return std::unique_ptr<SentencePieceModel>(new SentencePieceModel(std::move(impl)));
}

bool SentencePieceModel::Encode(const std::string& text, std::vector<int>* ids,
                                std::string* error) const {
  const Plugin& plugin = GetPlugin();
  char message[1024] = {0};
  int* out = nullptr;
  size_t n = 0;
  if (!plugin.encode(impl_->handle, text.data(), text.size(), &out, &n, message,
                     sizeof(message))) {
    *error = message;
    return false;
  }
  ids->assign(out, out + n);
  plugin.release(out);
  return true;
}

std::string SentencePieceModel::Decode(const std::vector<int>& ids) const {
  const Plugin& plugin = GetPlugin();
  size_t n = 0;
  char* text = plugin.decode(impl_->handle, ids.data(), ids.size(), &n);
  std::string out(text, n);
  plugin.release(text);
  return out;
}

int SentencePieceModel::piece_size() const { return GetPlugin().piece_size(impl_->handle); }
int SentencePieceModel::bos_id() const { return GetPlugin().bos_id(impl_->handle); }
int SentencePieceModel::eos_id() const { return GetPlugin().eos_id(impl_->handle); }

}  // namespace pdserve::decoder::internal
