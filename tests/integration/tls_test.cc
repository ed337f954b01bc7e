// Servers speak TLS and mutual TLS when given PEM files; plaintext and certificate-less clients
// are refused.
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pdserve/kvcache/v1/kvcache.grpc.pb.h"
#include "tests/integration/local_stack.h"
#include "tests/integration/process.h"

namespace pdserve::testing {
namespace {

namespace kv = ::pdserve::kvcache::v1;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A self-signed certificate for 127.0.0.1 (it is its own CA), key.pem and cert.pem in a fresh
// directory under TempRoot() that is removed with them on destruction.
class Certificate {
 public:
  Certificate() {
    std::string dir = absl::StrCat(TempRoot(), "/pdserve_tls_XXXXXX");
    if (mkdtemp(dir.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << dir << ") failed";
      return;
    }
    dir_ = dir;
    const std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost ",
        "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout ", dir_, "/key.pem -out ",
        dir_, "/cert.pem >/dev/null 2>&1");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  ~Certificate() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

grpc::Status GetStats(const std::string& address,
                      std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto stub = kv::KvCache::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(Deadline(5));
  kv::GetStatsResponse response;
  return stub->GetStats(&context, kv::GetStatsRequest(), &response);
}

TEST(TlsTest, TlsServerAcceptsVerifiedClientsOnly) {
  const Certificate certificate;
  const std::string& dir = certificate.dir();
  auto server = Process::StartServer(
      BinaryPath("kv_cache_manager"),
      {"--address=127.0.0.1:0", "--capacity=16MiB", "--tls_cert_file=" + dir + "/cert.pem",
       "--tls_key_file=" + dir + "/key.pem"});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = Read(dir + "/cert.pem");
  EXPECT_TRUE(GetStats((*server)->address(), grpc::SslCredentials(tls)).ok());
  EXPECT_FALSE(GetStats((*server)->address(), grpc::InsecureChannelCredentials()).ok());
}

TEST(TlsTest, MutualTlsRequiresAClientCertificate) {
  const Certificate certificate;
  const std::string& dir = certificate.dir();
  auto server = Process::StartServer(
      BinaryPath("kv_cache_manager"),
      {"--address=127.0.0.1:0", "--capacity=16MiB", "--tls_cert_file=" + dir + "/cert.pem",
       "--tls_key_file=" + dir + "/key.pem", "--tls_ca_file=" + dir + "/cert.pem"});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Read(dir + "/cert.pem");
  EXPECT_FALSE(GetStats((*server)->address(), grpc::SslCredentials(no_cert)).ok());
  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_cert_chain = Read(dir + "/cert.pem");
  with_cert.pem_private_key = Read(dir + "/key.pem");
  EXPECT_TRUE(GetStats((*server)->address(), grpc::SslCredentials(with_cert)).ok());
}

}  // namespace
}  // namespace pdserve::testing
