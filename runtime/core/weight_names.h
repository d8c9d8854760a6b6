// Canonical weight names: the original Wan DiT names and Wan's t5.py umT5
// names. Checkpoints in other namings reach them through one rename table
// (weight_names.cpp): diffusers' WanTransformer3DModel and HF transformers'
// UMT5EncoderModel. Wrapper prefixes are undone first.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace wl {

enum class NameScheme { Canonical, Diffusers, HfUmt5 };
const char* name_scheme_label(NameScheme s);  // "wan", "diffusers", "hf-transformers umT5"

// Removes every "_fsdp_wrapped_module." and "_orig_mod.", then one leading "model.".
std::string unwrap_name(const std::string& name);

// The scheme a whole set of (unwrapped) names is written in.
NameScheme detect_name_scheme(const std::vector<std::string>& names);

// The canonical name of `name` in `scheme`; std::nullopt for names the
// engine never uses (an HF decoder or LM head).
std::optional<std::string> canonical_name(NameScheme scheme, const std::string& name);

// The reverse: a canonical name written in `scheme` (the same table; tests
// and writers use it). Returns the name unchanged where no row applies.
std::string scheme_name(NameScheme scheme, const std::string& canonical);

}  // namespace wl
