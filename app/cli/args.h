// A small command-line parser shared by the subcommands: --name value pairs and
// --flag switches, with one-line errors for unknown or missing options.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

namespace wl::app {

class Args {
 public:
  // `options` take a value, `flags` do not. Throws wl::Error on unknown options.
  Args(int argc, char** argv, const std::set<std::string>& options, const std::set<std::string>& flags = {});

  bool has(const std::string& name) const { return values_.count(name) || set_flags_.count(name); }
  std::string get(const std::string& name, const std::string& fallback) const;
  std::string require(const std::string& name) const;  // throws "missing --name"
  long long get_int(const std::string& name, long long fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> set_flags_;
  std::vector<std::string> positional_;
};

}  // namespace wl::app
