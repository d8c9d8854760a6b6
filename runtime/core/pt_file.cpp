// .pt/.pth reader: locate data.pkl, unpickle it, resolve storages to entries.
#include "runtime/core/pt_file.h"

#include "runtime/core/error.h"

namespace wl {

bool looks_like_legacy_torch_save(const uint8_t* data, size_t size) {
  // Legacy files start with a pickled magic number: PROTO 2, LONG1 ...
  return size >= 3 && data[0] == 0x80 && data[1] == 0x02 && data[2] == 0x8a;
}

PtFile PtFile::open(const std::string& path) { return from_zip(ZipArchive::open(path)); }

PtFile PtFile::from_zip(ZipArchive zip) {
  PtFile f;
  f.zip_ = std::make_shared<ZipArchive>(std::move(zip));
  const ZipArchive& z = *f.zip_;
  const ZipEntry* pickle = nullptr;
  for (const ZipEntry& e : z.entries()) {
    const std::string& n = e.name;
    const bool top = n == "data.pkl";
    const bool nested = n.size() > 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0;
    if (!top && !nested) continue;
    if (pickle) throw Error(z.path() + ": two pickles in one archive ('" + pickle->name + "' and '" + n + "')");
    pickle = &e;
  }
  if (!pickle)
    throw Error(z.path() + ": a ZIP archive without a '<name>/data.pkl' entry: not a torch.save checkpoint");
  f.prefix_ = pickle->name.substr(0, pickle->name.size() - 8);
  const std::string label = z.path() + ": " + pickle->name;
  auto resolve = [&](const std::string& key, StorageType, int64_t) -> StorageBytes {
    const ZipEntry* e = z.find(f.prefix_ + "data/" + key);
    if (!e) throw Error(label + ": storage '" + key + "' has no entry '" + f.prefix_ + "data/" + key + "' in the archive");
    return {z.data(*e), e->size};
  };
  f.root_ = unpickle(label, z.data(*pickle), pickle->size, resolve);
  return f;
}

}  // namespace wl
