// Answering a FUSE request once; see request.hpp.
#include "request.hpp"

#include <spdlog/spdlog.h>

namespace pbs::fs {

fuse_req_t Request::take() {
  fuse_req_t req = std::exchange(req_, nullptr);
  // Only when registered: it takes the session's lock, which every worker contends for.
  if (req != nullptr && interruptible_) fuse_req_interrupt_func(req, nullptr, nullptr);
  return req;
}

void Request::abandon() {
  if (req_ == nullptr) return;
  if (answered_) {
    spdlog::error("a request ended without an answer: answered EIO (a defect; please report it)");
  }
  fail();
}

void Request::fail() {
  if (req_ == nullptr) return;
  if (!answered_) return none();
  fuse_reply_err(take(), EIO);
}

void Request::error(int code) {
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
