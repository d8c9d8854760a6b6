#include "app/serve/browser_keys.h"

#include <cctype>
#include <map>

namespace wl::app {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string browser_key_code(const std::string& sdl_key_name) {
  const std::string n = lower(sdl_key_name);
  if (n.size() == 1 && n[0] >= 'a' && n[0] <= 'z')
    return std::string("Key") + static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
  if (n.size() == 1 && n[0] >= '0' && n[0] <= '9') return "Digit" + n;
  if (n.size() >= 2 && n.size() <= 3 && n[0] == 'f' && std::isdigit(static_cast<unsigned char>(n[1]))) {
    const int k = std::stoi(n.substr(1));
    if (k >= 1 && k <= 24) return "F" + std::to_string(k);
  }
  if (n.rfind("keypad ", 0) == 0 && n.size() == 8 && std::isdigit(static_cast<unsigned char>(n[7])))
    return std::string("Numpad") + n[7];
  static const std::map<std::string, std::string> named = {
      {"up", "ArrowUp"},         {"down", "ArrowDown"},       {"left", "ArrowLeft"},
      {"right", "ArrowRight"},   {"space", "Space"},          {"return", "Enter"},
      {"escape", "Escape"},      {"tab", "Tab"},              {"backspace", "Backspace"},
      {"left shift", "ShiftLeft"}, {"right shift", "ShiftRight"}, {"left ctrl", "ControlLeft"},
      {"right ctrl", "ControlRight"}, {"left alt", "AltLeft"},  {"right alt", "AltRight"},
      {"home", "Home"},          {"end", "End"},              {"pageup", "PageUp"},
      {"pagedown", "PageDown"},  {"insert", "Insert"},        {"delete", "Delete"},
      {"-", "Minus"},            {"=", "Equal"},              {"[", "BracketLeft"},
      {"]", "BracketRight"},     {";", "Semicolon"},          {"'", "Quote"},
      {",", "Comma"},            {".", "Period"},             {"/", "Slash"},
      {"`", "Backquote"},        {"\\", "Backslash"},
  };
  const auto it = named.find(n);
  return it == named.end() ? std::string() : it->second;
}

}  // namespace wl::app
