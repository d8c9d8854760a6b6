// The page `worldloop serve` sends (app/serve/page.html, embedded at build
// time by app/CMakeLists.txt from serve_page.cpp.in).
#pragma once

#include <string>

namespace wl::app {

const std::string& serve_page_html();

}  // namespace wl::app
