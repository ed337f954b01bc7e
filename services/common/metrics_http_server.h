// A minimal HTTP/1.1 server that answers GET /metrics with a registry's Prometheus text.
#ifndef PDSERVE_SERVICES_COMMON_METRICS_HTTP_SERVER_H_
#define PDSERVE_SERVICES_COMMON_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "services/common/metrics.h"

namespace pdserve::common {

// Thread-safe. Serves one connection at a time on its own thread (scrapes are rare and small).
class MetricsHttpServer {
 public:
  // Listens on host:port (port 0 picks a free one). `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& host,
                                                                  int port,
                                                                  const MetricsRegistry* registry);
  ~MetricsHttpServer();
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  void Serve();
  void HandleConnection(int fd);

  const MetricsRegistry* registry_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_METRICS_HTTP_SERVER_H_
