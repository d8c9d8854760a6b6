// worldloop error type: every failure a user can cause (bad files, bad shapes,
// unknown dtypes, missing devices) becomes a wl::Error whose message names the
// file or object and the problem, so the command line can print one line.
#pragma once
#include <stdexcept>
#include <string>

namespace wl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace wl
