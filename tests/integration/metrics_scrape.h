// Fetches a server's Prometheus /metrics page over plain HTTP for tests.
#ifndef PDSERVE_TESTS_INTEGRATION_METRICS_SCRAPE_H_
#define PDSERVE_TESTS_INTEGRATION_METRICS_SCRAPE_H_

#include <string>

namespace pdserve::testing {

// The whole HTTP response (status line, headers, body) of GET /metrics on 127.0.0.1:port;
// "" when the connection fails. Reads time out after 5 s.
std::string ScrapeMetrics(int port);

}  // namespace pdserve::testing

#endif  // PDSERVE_TESTS_INTEGRATION_METRICS_SCRAPE_H_
