// Wan's prompt tokenizer for the umT5 encoder (docs/model.md "umT5 text
// encoder"; spec: shared/specs/text_action_checkpoints.md 1.1): Wan's
// 'whitespace' cleaning without ftfy, then SentencePiece (libsentencepiece,
// the published spiece.model), runs of unknown pieces merged into one id,
// EOS appended, truncated and padded to text_len with a mask.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace wl {

// One prompt as the encoder takes it.
struct Umt5Tokens {
  std::string cleaned;        // the text after clean_prompt()
  std::vector<int32_t> ids;   // [text_len]: pieces (at most text_len - 1), EOS, then pad
  std::vector<float> mask;    // [text_len]: 1 for the pieces and EOS, 0 for padding
  int64_t seq_len = 0;        // sum(mask)
  bool truncated = false;     // the pieces did not fit in text_len - 1
};

// Wan's clean='whitespace' as far as it goes without ftfy: C0 control
// characters other than whitespace (and DEL) are dropped; HTML entities are
// unescaped twice (named &amp; &lt; &gt; &quot; &apos; &nbsp; - the first five
// and &nbsp; also without the ';', as Python's html.unescape takes them -
// and numeric &#NN; &#xHH;, ';' optional; a code point that is 0, a
// surrogate or past U+10FFFF becomes U+FFFD); then Python's str.strip() and
// re.sub(r'\s+', ' ') over Unicode whitespace, and strip again. Not done:
// ftfy's mojibake repair and its other fixes (among them its own entity
// unescape of lines without '<', a third pass), other named entities, and
// html.unescape's cp1252 remapping of &#128;..&#159;. Invalid UTF-8 bytes
// become U+FFFD.
std::string clean_prompt(const std::string& text);

class Umt5Tokenizer {
 public:
  // Loads a SentencePiece model (spiece.model); throws wl::Error naming the file.
  explicit Umt5Tokenizer(const std::string& path);
  ~Umt5Tokenizer();
  Umt5Tokenizer(const Umt5Tokenizer&) = delete;
  Umt5Tokenizer& operator=(const Umt5Tokenizer&) = delete;

  const std::string& path() const { return path_; }
  int vocab_size() const;
  int32_t eos_id() const { return eos_; }
  int32_t pad_id() const { return pad_; }
  int32_t unk_id() const { return unk_; }

  // SentencePiece ids of already cleaned text, every run of consecutive
  // unknown pieces merged into one unk id (no EOS, no truncation).
  std::vector<int32_t> pieces(const std::string& cleaned) const;
  // clean_prompt, pieces, the first text_len - 1 of them, EOS, padding.
  Umt5Tokens tokenize(const std::string& prompt, int64_t text_len) const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_;
  int32_t eos_ = 1, pad_ = 0, unk_ = 2;
};

}  // namespace wl
