// tos_fs: look at and move what a job wrote, on HDFS or local disk, with no Hadoop install.
//
//   tos_fs ls PATH...        entries of a directory (or the file), with sizes
//   tos_fs cat PATH...       a file's bytes to stdout
//   tos_fs put LOCAL DEST    copy a local file to DEST (a file, or an existing directory)
//   tos_fs get SRC LOCAL     copy SRC to a local file
//   tos_fs rm [-r] PATH...   delete files (-r: directories and what they hold)
//   tos_fs du PATH...        bytes, files and directories under PATH
//   tos_fs mkdir PATH...     create directories and their parents
//
// PATH is hdfs://..., webhdfs://..., file://... or a path resolved against fs.defaultFS
// ($HADOOP_CONF_DIR) as the jobs resolve it.
#include <CLI/CLI.hpp>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tos/fs.h"

namespace {

int Fail(const tos::Status& s) {
  std::fprintf(stderr, "tos_fs: %s\n", s.ToString().c_str());
  return 1;
}

tos::Result<tos::FileSystem*> Resolve(std::string* path) {
  TOS_ASSIGN_OR_RETURN(*path, tos::ResolvePath(*path));
  return tos::GetFileSystem(*path);
}

tos::Status Copy(const std::string& from, const std::string& to) {
  TOS_ASSIGN_OR_RETURN(tos::FileSystem * src_fs, tos::GetFileSystem(from));
  TOS_ASSIGN_OR_RETURN(tos::FileSystem * dst_fs, tos::GetFileSystem(to));
  TOS_ASSIGN_OR_RETURN(auto in, src_fs->NewSequentialFile(from));
  // Written under a temporary name and renamed: a failed copy leaves no partial DEST.
  const std::string tmp = to + "._COPYING_";
  TOS_ASSIGN_OR_RETURN(auto out, dst_fs->NewWritableFile(tmp));
  std::vector<char> buf(size_t{1} << 20);
  for (;;) {
    auto n = in->Read(buf.data(), buf.size());
    if (!n.ok() || *n == 0) {
      tos::Status s = n.ok() ? out->Close() : n.status();
      if (!s.ok()) {
        (void)out->Close();
        (void)dst_fs->DeleteFile(tmp);
        return s;
      }
      break;
    }
    if (tos::Status s = out->Append(std::string_view(buf.data(), *n)); !s.ok()) {
      (void)out->Close();
      (void)dst_fs->DeleteFile(tmp);
      return s;
    }
  }
  return dst_fs->RenameFile(tmp, to);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Lists, reads, copies and deletes files on HDFS (WebHDFS) and local disk"};
  app.require_subcommand(1);
  std::vector<std::string> paths;
  bool recursive = false;
  std::string src, dst;
  auto* ls = app.add_subcommand("ls", "entries of a directory, with sizes");
  ls->add_option("path", paths)->required();
  auto* cat = app.add_subcommand("cat", "a file's bytes to stdout");
  cat->add_option("path", paths)->required();
  auto* put = app.add_subcommand("put", "copy a local file to DEST");
  put->add_option("local", src)->required();
  put->add_option("dest", dst)->required();
  auto* get = app.add_subcommand("get", "copy SRC to a local file");
  get->add_option("src", src)->required();
  get->add_option("local", dst)->required();
  auto* rm = app.add_subcommand("rm", "delete files (-r: directories too)");
  rm->add_flag("-r,--recursive", recursive, "delete directories and everything under them");
  rm->add_option("path", paths)->required();
  auto* du = app.add_subcommand("du", "bytes, files and directories under PATH");
  du->add_option("path", paths)->required();
  auto* mkdir = app.add_subcommand("mkdir", "create directories and their parents");
  mkdir->add_option("path", paths)->required();
  CLI11_PARSE(app, argc, argv);

  if (*put || *get) {
    std::string from = src, to = dst;
    if (*put) {
      auto fs = Resolve(&to);
      if (!fs.ok()) return Fail(fs.status());
      auto is_dir = (*fs)->IsDirectory(to);
      if (!is_dir.ok()) return Fail(is_dir.status());
      if (*is_dir) to = tos::JoinPath(to, std::string(tos::Basename(from)));
    } else {
      auto fs = Resolve(&from);
      if (!fs.ok()) return Fail(fs.status());
    }
    tos::Status s = Copy(from, to);
    return s.ok() ? 0 : Fail(s);
  }
  int rc = 0;
  for (std::string path : paths) {
    auto fs_or = Resolve(&path);
    if (!fs_or.ok()) {
      rc = Fail(fs_or.status());
      continue;
    }
    tos::FileSystem* fs = *fs_or;
    tos::Status s;
    if (*ls) {
      auto is_dir = fs->IsDirectory(path);
      if (!is_dir.ok()) {
        s = is_dir.status();
      } else if (!*is_dir) {
        auto size = fs->GetFileSize(path);
        if (!size.ok()) s = size.status();
        else std::printf("%12" PRIu64 "  %s\n", *size, path.c_str());
      } else if (auto entries = fs->ListDir(path); !entries.ok()) {
        s = entries.status();
      } else {
        for (const auto& e : *entries) {
          const std::string full = tos::JoinPath(path, e.name);
          if (e.is_dir) {
            std::printf("%12s  %s/\n", "-", full.c_str());
            continue;
          }
          auto size = fs->GetFileSize(full);
          std::printf("%12" PRIu64 "  %s\n", size.ok() ? *size : 0, full.c_str());
        }
      }
    } else if (*cat) {
      auto file = fs->NewSequentialFile(path);
      if (!file.ok()) {
        s = file.status();
      } else {
        std::vector<char> buf(size_t{1} << 20);
        for (;;) {
          auto n = (*file)->Read(buf.data(), buf.size());
          if (!n.ok()) {
            s = n.status();
            break;
          }
          if (*n == 0) break;
          std::fwrite(buf.data(), 1, *n, stdout);
        }
        std::fflush(stdout);
      }
    } else if (*rm) {
      if (recursive) {
        s = fs->DeleteRecursively(path);
      } else {
        auto is_dir = fs->IsDirectory(path);
        s = !is_dir.ok() ? is_dir.status()
            : *is_dir   ? tos::InvalidArgument(path + ": is a directory (use rm -r)")
                        : fs->DeleteFile(path);
      }
    } else if (*du) {
      auto summary = fs->GetContentSummary(path);
      if (!summary.ok()) {
        s = summary.status();
      } else {
        std::printf("%12" PRIu64 " bytes  %8" PRIu64 " files  %6" PRIu64 " dirs  %s\n",
                    summary->bytes, summary->files, summary->directories, path.c_str());
      }
    } else if (*mkdir) {
      s = fs->CreateDirs(path);
    }
    if (!s.ok()) rc = Fail(s);
  }
  return rc;
}
