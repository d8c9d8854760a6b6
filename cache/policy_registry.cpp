// make_policy(): the cache policies by name. Each policy lives in its own
// file and exports one factory.
#include <string>

#include "cache/cache_policy.h"
#include "runtime/core/error.h"

namespace wl::cache {

std::unique_ptr<CachePolicy> make_full_policy(const PolicyOptions& options);
std::unique_ptr<CachePolicy> make_window_policy(const PolicyOptions& options);
std::unique_ptr<CachePolicy> make_sink_policy(const PolicyOptions& options);
std::unique_ptr<CachePolicy> make_observed_policy(const PolicyOptions& options);
std::unique_ptr<CachePolicy> make_future_policy(const PolicyOptions& options);

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<CachePolicy> (*make)(const PolicyOptions&);
};

const Entry kPolicies[] = {
    {"full", make_full_policy},         {"window", make_window_policy}, {"sink", make_sink_policy},
    {"observed", make_observed_policy}, {"future", make_future_policy},
};

}  // namespace

std::vector<std::string> policy_names() {
  std::vector<std::string> out;
  for (const Entry& e : kPolicies) out.push_back(e.name);
  return out;
}

std::unique_ptr<CachePolicy> make_policy(const std::string& name, const PolicyOptions& options) {
  for (const Entry& e : kPolicies)
    if (name == e.name) return e.make(options);
  std::string known;
  for (const Entry& e : kPolicies) known += std::string(known.empty() ? "" : ", ") + e.name;
  throw Error("unknown cache policy '" + name + "' (known: " + known + ")");
}

}  // namespace wl::cache
