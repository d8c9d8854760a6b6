#include "runtime/model/umt5_tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <sys/stat.h>

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"

namespace wl {
namespace {

// UTF-8 -> code points; an invalid or truncated sequence gives U+FFFD for its first byte.
std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
      ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string encode_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Python's str.isspace().
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_dropped_control(char32_t c) { return (c < 0x20 && !is_space(c)) || c == 0x7F; }

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_hex(char32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

struct Entity {
  const char32_t* name;
  char32_t value;
  bool needs_semicolon;
};
constexpr Entity kEntities[] = {
    {U"amp", U'&', false}, {U"lt", U'<', false},      {U"gt", U'>', false},
    {U"quot", U'"', false}, {U"apos", U'\'', true}, {U"nbsp", 0xA0, false},
};

// One pass of html.unescape over the entities listed in the header.
std::u32string unescape_once(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    if (s[i] != U'&' || i + 1 >= n) {
      out.push_back(s[i]);
      continue;
    }
    size_t j = i + 1;
    if (s[j] == U'#') {
      ++j;
      const bool hex = j < n && (s[j] == U'x' || s[j] == U'X');
      if (hex) ++j;
      const size_t digits = j;
      uint64_t v = 0;
      while (j < n && (hex ? is_hex(s[j]) : is_digit(s[j]))) {
        const char32_t c = s[j];
        const unsigned d = is_digit(c) ? c - U'0' : (c | 0x20) - U'a' + 10;
        if (v <= 0x10FFFFu) v = v * (hex ? 16 : 10) + d;  // saturate past the range
        ++j;
      }
      if (j == digits) {  // "&#" or "&#x" with no digits: not an entity
        out.push_back(s[i]);
        continue;
      }
      if (j < n && s[j] == U';') ++j;
      char32_t cp = static_cast<char32_t>(v);
      if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) cp = 0xFFFD;
      out.push_back(cp);
      i = j - 1;
      continue;
    }
    bool done = false;
    for (const Entity& e : kEntities) {
      size_t k = 0;
      while (e.name[k] && j + k < n && s[j + k] == e.name[k]) ++k;
      if (e.name[k]) continue;  // not this name
      const bool semi = j + k < n && s[j + k] == U';';
      if (!semi && e.needs_semicolon) continue;
      out.push_back(e.value);
      i = j + k + (semi ? 1 : 0) - 1;
      done = true;
      break;
    }
    if (!done) out.push_back(s[i]);
  }
  return out;
}

std::u32string strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace

std::string clean_prompt(const std::string& text) {
  std::u32string s;
  for (char32_t c : decode_utf8(text))
    if (!is_dropped_control(c)) s.push_back(c);
  s = strip(unescape_once(unescape_once(s)));
  std::u32string out;
  out.reserve(s.size());
  bool in_space = false;
  for (char32_t c : s) {
    if (is_space(c)) {
      if (!in_space) out.push_back(U' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return encode_utf8(strip(out));
}

Umt5Tokenizer::Umt5Tokenizer(const std::string& path)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(path) {
  const uint64_t size = require_regular_file(path, "the SentencePiece model");
  if (size > InputLimits::kTokenizerBytes)
    throw Error(path + ": the SentencePiece model is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(InputLimits::kTokenizerBytes) + "-byte limit");
  const auto status = sp_->Load(path);
  if (!status.ok()) throw Error(path + ": not a SentencePiece model: " + status.ToString());
  if (sp_->GetPieceSize() <= 0) throw Error(path + ": the SentencePiece model has no pieces");
  // The model's own special ids; umT5's (and the spec's) are pad 0, eos 1, unk 2.
  if (sp_->eos_id() >= 0) eos_ = sp_->eos_id();
  if (sp_->pad_id() >= 0) pad_ = sp_->pad_id();
  if (sp_->unk_id() >= 0) unk_ = sp_->unk_id();
}

Umt5Tokenizer::~Umt5Tokenizer() = default;

int Umt5Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::vector<int32_t> Umt5Tokenizer::pieces(const std::string& cleaned) const {
  std::vector<int> raw;
  const auto status = sp_->Encode(cleaned, &raw);
  if (!status.ok()) throw Error(path_ + ": cannot tokenize the prompt: " + status.ToString());
  // libsentencepiece's unigram model already merges unknown runs (checked by
  // the tests); merging again costs nothing and keeps the rule explicit.
  std::vector<int32_t> out;
  out.reserve(raw.size());
  for (int id : raw)
    if (!(id == unk_ && !out.empty() && out.back() == unk_)) out.push_back(id);
  return out;
}

Umt5Tokens Umt5Tokenizer::tokenize(const std::string& prompt, int64_t text_len) const {
  if (text_len < 1) throw Error(path_ + ": text_len " + std::to_string(text_len) + " must be at least 1");
  Umt5Tokens t;
  t.cleaned = clean_prompt(prompt);
  std::vector<int32_t> p = pieces(t.cleaned);
  const size_t room = static_cast<size_t>(text_len - 1);
  if (p.size() > room) {
    p.resize(room);
    t.truncated = true;
  }
  p.push_back(eos_);
  t.seq_len = static_cast<int64_t>(p.size());
  t.ids.assign(static_cast<size_t>(text_len), pad_);
  t.mask.assign(static_cast<size_t>(text_len), 0.0f);
  for (size_t i = 0; i < p.size(); ++i) {
    t.ids[i] = p[i];
    t.mask[i] = 1.0f;
  }
  return t;
}

}  // namespace wl
