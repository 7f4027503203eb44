#pragma once
// The node's side of the SLAP API (node/MASTER_CONTRACT.md): the computer view over /v1/ and the
// JSON-RPC v0 calls. Retries transient failures (no connection, 429, 5xx) with exponential
// backoff; never trusts what comes back (see view.h). Not thread-safe.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "node/http_client.h"
#include "node/view.h"

namespace slap::node {

struct RetryPolicy {
  int attempts = 4;  // total tries per call
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
};

struct PartitionDeclaration {
  std::string partition_id;
  struct Ip {
    std::string address, interface_name, gateway, netmask, network;
  };
  std::vector<Ip> ips;
};

struct ViewFetch {
  bool not_modified = false;
  std::string etag;
  ComputerView view;
  std::vector<std::string> refusals;
};

struct InstanceCertificate {
  std::string certificate;
  std::string key;
};

class SlapClient {
 public:
  using SleepFn = std::function<void(std::chrono::milliseconds)>;
  SlapClient(std::string master_url, std::string computer_guid, HttpOptions http, RetryPolicy retry,
             ViewLimits limits);

  void set_sleep(SleepFn f) { sleep_ = std::move(f); }  // tests skip real backoff
  const std::string& computer_guid() const { return guid_; }

  // wait_seconds > 0 long-polls (If-None-Match: etag); not_modified when nothing changed.
  Result<ViewFetch> fetch_view(const std::string& etag, int wait_seconds);

  Status declare_format(const std::vector<PartitionDeclaration>& partitions);
  Status software_state(const std::string& url, const std::string& state);  // building|available|destroyed
  Status software_error(const std::string& url, const std::string& message);
  Status instance_state(const std::string& guid, const std::string& state);  // started|stopped|destroyed
  Status instance_error(const std::string& guid, const std::string& message);
  Status connection_parameters(const std::string& guid, const std::map<std::string, std::string>& params);
  Result<InstanceCertificate> instance_certificate(const std::string& guid);
  Status post_usage(const std::string& tioxml);

 private:
  Result<HttpResponse> call(const std::string& method, const std::string& path, const std::string& body,
                            const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout);
  Result<std::string> rpc(const std::string& path, const std::string& json_body);

  std::string base_;
  std::string guid_;
  HttpClient http_;
  RetryPolicy retry_;
  ViewLimits limits_;
  SleepFn sleep_;
};

}  // namespace slap::node
