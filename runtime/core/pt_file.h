// torch.save files (.pt/.pth, the zip format of torch >= 1.6) read without
// Python: the archive's `<prefix>/data.pkl` is run through the restricted
// unpickler and every storage resolves to the mapped entry
// `<prefix>/data/<key>`. Loading never executes code.
#pragma once
#include <memory>
#include <string>

#include "runtime/core/torch_unpickler.h"
#include "runtime/core/zip_archive.h"

namespace wl {

class PtFile {
 public:
  static PtFile open(const std::string& path);
  static PtFile from_zip(ZipArchive zip);

  const std::string& path() const { return zip_->path(); }
  const std::string& prefix() const { return prefix_; }  // "sf_like/", "archive/"
  const PickleValue& root() const { return *root_; }
  // Owner of the mapping the root's tensors point into.
  std::shared_ptr<void> mapping() const { return zip_->mapping(); }

 private:
  std::shared_ptr<ZipArchive> zip_;
  std::string prefix_;
  PickleRef root_;
};

// True when the bytes look like a legacy (pre-1.6, non-zip) torch.save file.
bool looks_like_legacy_torch_save(const uint8_t* data, size_t size);

}  // namespace wl
