// PBS's lock-path rule, including namespaces and the hashed/ form (spec sections 2 and 10).
#include <gtest/gtest.h>

#include "lock_object.hpp"

namespace pbs {
namespace {

LockObject parse(const std::string& ns, const std::string& object, bool manifest = false) {
  auto parsed_ns = Namespace::parse(ns);
  EXPECT_TRUE(parsed_ns.ok());
  auto parsed = LockObject::parse("store1", *parsed_ns, object, manifest);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return *parsed;
}

TEST(LockPath, FullPathVectors) {
  struct Case {
    std::string ns, object;
    bool manifest;
    std::string below_store;
  } cases[] = {
      {"", "vm/100", false, "vm-100"},
      {"", "vm/100/2022-05-02T08:11:33Z", false, "vm-100-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z"},
      {"", "vm/100/2022-05-02T08:11:33Z", true,
       "vm-100-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z-.index.json.lck"},
      {"a/b", "vm/100", false, "a:b/vm-100"},
      {"prod", "ct/1-2/2024-01-01T00:00:00Z", false,
       "prod/ct-1\\x2d2-2024\\x2d01\\x2d01T00\\x3a00\\x3a00Z"},
      {"prod/site-a", "host/my.host/2025-03-26T11:44:12Z", true,
       "prod:site-a/host-my.host-2025\\x2d03\\x2d26T11\\x3a44\\x3a12Z-.index.json.lck"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse(c.ns, c.object, c.manifest).lock_path().relative(), "store1/" + c.below_store)
        << c.object;
  }
}

TEST(LockPath, Group249IsPlainAnd250IsHashed) {
  auto plain = parse("", "host/" + std::string(249, 'a')).lock_path();
  EXPECT_FALSE(plain.hashed);
  EXPECT_EQ(plain.name, "host-" + std::string(249, 'a'));
  EXPECT_EQ(plain.name.size(), 254u);

  auto hashed = parse("", "host/" + std::string(250, 'a')).lock_path();
  EXPECT_TRUE(hashed.hashed);
  EXPECT_EQ(hashed.relative(),
            "store1/hashed/host-" + std::string(75, 'a') + "..." + std::string(80, 'a') +
                "-e11a509a0df911507aadc4d261403a060dd4427c15b9dc37bb831d71b45fcb3b");
  EXPECT_EQ(hashed.name.size(), 228u);
}

TEST(LockPath, HashedSnapshotCutsThroughEscapes) {
  auto path = parse("", "host/" + std::string(217, 'b') + "/2022-05-02T08:11:33Z").lock_path();
  EXPECT_EQ(path.relative(),
            "store1/hashed/host-" + std::string(75, 'b') + "..." + std::string(47, 'b') +
                "-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z-"
                "5560b4956c03671355d245b9821df9f37b21fe8c4eade6857869cddb1fcd2054");
}

TEST(LockPath, HashedInANamespaceKeepsTheNamespaceDirectory) {
  auto path = parse("a/b", "host/" + std::string(300, 'c')).lock_path();
  EXPECT_EQ(path.directories(), (std::vector<std::string>{"store1", "a:b", "hashed"}));
  EXPECT_EQ(path.directory(), "store1/a:b/hashed");
  EXPECT_EQ(parse("", "vm/100").lock_path().directory(), "store1");
}

TEST(LockPath, BoundaryAroundTheLimitCountsEscapedBytes) {
  // Each '-' in an id escapes to 4 bytes: the limit applies to the escaped name.
  std::string id = "x" + std::string(62, '-');  // "host-" + 1 + 62*4 = 254 bytes
  EXPECT_FALSE(parse("", "host/" + id).lock_path().hashed);
  EXPECT_TRUE(parse("", "host/" + id + "y").lock_path().hashed);
}

}  // namespace
}  // namespace pbs
