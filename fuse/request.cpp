// Answering a FUSE request once; see request.hpp.
#include "request.hpp"

#include <linux/fuse.h>

#include <spdlog/spdlog.h>

namespace pbs::fs {

void Request::on_interrupt(fuse_interrupt_func_t callback, void* data) {
  interruptible_ = true;
  if (direct_) return ConnectionIo::on_interrupt(unique_, callback, data);
  fuse_req_interrupt_func(req_, callback, data);
}

bool Request::take_direct() {
  if (!direct_) return false;
  direct_ = false;
  if (interruptible_) ConnectionIo::forget_interrupt(unique_);
  return true;
}

fuse_req_t Request::take() {
  fuse_req_t req = std::exchange(req_, nullptr);
  // Only when registered: it takes the session's lock, which every worker contends for.
  if (req != nullptr && interruptible_) fuse_req_interrupt_func(req, nullptr, nullptr);
  return req;
}

void Request::abandon() {
  if (req_ == nullptr && !direct_) return;
  if (answered_) {
    spdlog::error("a request ended without an answer: answered EIO (a defect; please report it)");
  }
  fail();
}

void Request::fail() {
  if (take_direct()) {
    ConnectionIo::reply(unique_, EIO, nullptr, 0);
    return;
  }
  if (req_ == nullptr) return;
  if (!answered_) return none();
  fuse_reply_err(take(), EIO);
}

void Request::error(int code) {
  if (take_direct()) {
    ConnectionIo::reply(unique_, code, nullptr, 0);
    return;
  }
  if (fuse_req_t req = take()) fuse_reply_err(req, code);
}

bool Request::entry(const fuse_entry_param& entry) {
  fuse_req_t req = take();
  return req != nullptr && fuse_reply_entry(req, &entry) == 0;
}

void Request::attr(const struct stat& attributes, double timeout) {
  if (fuse_req_t req = take()) fuse_reply_attr(req, &attributes, timeout);
}

bool Request::open(const fuse_file_info& fi) {
  if (take_direct()) {
    // What fuse_reply_open sends, for the flags pbs-lockfs sets.
    fuse_open_out out{};
    out.fh = fi.fh;
    if (fi.direct_io != 0) out.open_flags |= FOPEN_DIRECT_IO;
    if (fi.keep_cache != 0) out.open_flags |= FOPEN_KEEP_CACHE;
    if (fi.nonseekable != 0) out.open_flags |= FOPEN_NONSEEKABLE;
    if (fi.cache_readdir != 0) out.open_flags |= FOPEN_CACHE_DIR;
    if (fi.noflush != 0) out.open_flags |= FOPEN_NOFLUSH;
    return ConnectionIo::reply(unique_, 0, &out, sizeof out);
  }
  fuse_req_t req = take();
  return req != nullptr && fuse_reply_open(req, &fi) == 0;
}

bool Request::buffer(const char* data, std::size_t size) {
  fuse_req_t req = take();
  return req != nullptr && fuse_reply_buf(req, data, size) == 0;
}

void Request::written(std::size_t size) {
  if (fuse_req_t req = take()) fuse_reply_write(req, size);
}

void Request::xattr_size(std::size_t size) {
  if (fuse_req_t req = take()) fuse_reply_xattr(req, size);
}

void Request::statfs(const struct statvfs& st) {
  if (fuse_req_t req = take()) fuse_reply_statfs(req, &st);
}

void Request::lseek(off_t offset) {
  if (fuse_req_t req = take()) fuse_reply_lseek(req, offset);
}

void Request::poll(unsigned revents) {
  if (fuse_req_t req = take()) fuse_reply_poll(req, revents);
}

void Request::none() {
  if (fuse_req_t req = std::exchange(req_, nullptr)) fuse_reply_none(req);
}

}  // namespace pbs::fs
