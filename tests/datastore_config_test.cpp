// The datastore.cfg parser on real-looking and broken files.
#include <gtest/gtest.h>

#include "datastore_config.hpp"
#include "temp_dir.hpp"

namespace pbs {
namespace {

TEST(DatastoreConfig, RealLookingFile) {
  auto config = parse_datastore_config(
      "# written by proxmox-backup\n"
      "datastore: store1\n"
      "\tcomment main store\n"
      "\tgc-schedule daily\n"
      "\tpath /mnt/datastore/store1\n"
      "\tnotify-user root@pam\n"
      "\n"
      "datastore: offsite_2\n"
      "        path /srv/pbs/offsite\n"
      "        tuning chunk-order=none\n");
  EXPECT_TRUE(config.warnings.empty());
  ASSERT_EQ(config.stores.size(), 2u);
  EXPECT_EQ(config.stores[0], (DatastoreConfigEntry{"store1", "/mnt/datastore/store1"}));
  EXPECT_EQ(config.stores[1], (DatastoreConfigEntry{"offsite_2", "/srv/pbs/offsite"}));
}

TEST(DatastoreConfig, OtherSectionsAndUnknownKeysAreSkipped) {
  auto config = parse_datastore_config(
      "s3-endpoint: aws\n\tpath /not/a/store\n"
      "datastore: s3store\n\tbackend type=s3\n\tpath /cache/s3store\n\tfuture-key x y z\n");
  ASSERT_EQ(config.stores.size(), 1u);
  EXPECT_EQ(config.stores[0].name, "s3store");
  EXPECT_EQ(config.stores[0].path, "/cache/s3store");
}

TEST(DatastoreConfig, BrokenEntriesGiveWarningsNotFailures) {
  auto config = parse_datastore_config(
      "\tpath /orphan\n"                   // property before any section
      "datastore: x!\n\tpath /bad/name\n"  // invalid name
      "datastore: nopath\n\tcomment c\n"   // no path
      "datastore: relative\n\tpath data\n"
      "garbage line\n"
      "datastore: good1\n\tpath /ok\n"
      "datastore: good1\n\tpath /again\n"
      "datastore: crlf\r\n\tpath /with/cr\r\n");
  ASSERT_EQ(config.stores.size(), 2u);
  EXPECT_EQ(config.stores[0], (DatastoreConfigEntry{"good1", "/ok"}));
  EXPECT_EQ(config.stores[1], (DatastoreConfigEntry{"crlf", "/with/cr"}));
  EXPECT_EQ(config.warnings.size(), 6u);
  for (const auto& w : config.warnings)
    EXPECT_EQ(w.rfind("line ", 0), 0u) << w;
}

TEST(DatastoreConfig, EmptyAndBinaryInput) {
  EXPECT_TRUE(parse_datastore_config("").stores.empty());
  std::string binary;
  for (int i = 0; i < 256; ++i)
    binary += static_cast<char>(i);
  EXPECT_TRUE(parse_datastore_config(binary).stores.empty());
}

TEST(DatastoreConfig, ReadsFileAndReportsMissingOne) {
  test::TempDir dir;
  test::write_file(dir / "datastore.cfg", "datastore: store1\n\tpath /x\n");
  auto config = read_datastore_config(dir / "datastore.cfg");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->stores.size(), 1u);
  auto missing = read_datastore_config(dir / "nope.cfg");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST(DatastoreConfig, StoreOptions) {
  EXPECT_EQ(*parse_store_option("store1:/data"), (DatastoreConfigEntry{"store1", "/data"}));
  EXPECT_EQ(*parse_store_option("store1=/data:x"), (DatastoreConfigEntry{"store1", "/data:x"}));
  for (auto bad : {"store1", "x:/data", "store1:relative", "store1:", ":/data"}) {
    EXPECT_FALSE(parse_store_option(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace pbs
