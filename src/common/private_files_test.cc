// Owner-only files whatever the umask: exports created 0600, existing files
// keep their mode, directories created 0700, wide files tightened.
#include "common/private_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tollgate::files {
namespace {

class PrivateFilesTest : public ::testing::Test {
 protected:
  PrivateFilesTest() : oldMask_(::umask(0)) {
    std::string tmpl = "/tmp/tollgate-private-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
  }
  ~PrivateFilesTest() override {
    ::umask(oldMask_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static unsigned modeOf(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return static_cast<unsigned>(st.st_mode) & 07777;
  }
  mode_t oldMask_;
  std::string dir_;
};

TEST_F(PrivateFilesTest, ExportsAreCreatedOwnerOnlyAndExistingFilesKeepTheirMode) {
  const std::string p = dir_ + "/cdrs.csv";
  std::FILE* f = openPrivateForWriting(p);
  ASSERT_NE(f, nullptr);
  std::fputs("a,b\n", f);
  std::fclose(f);
  EXPECT_EQ(modeOf(p), 0600u) << "umask 0 must not widen it";
  ASSERT_EQ(::chmod(p.c_str(), 0640), 0);
  f = openPrivateForWriting(p);
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_EQ(modeOf(p), 0640u) << "the operator's own file keeps its mode";
  EXPECT_EQ(std::filesystem::file_size(p), 0u) << "truncated";
}

TEST_F(PrivateFilesTest, DirectoriesCreatedAreOwnerOnlyAndExistingOnesUntouched) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  auto made = makePrivateDirectories(dir_ + "/a/b");
  ASSERT_TRUE(made.ok()) << made.error();
  EXPECT_EQ(made->size(), 2u);
  EXPECT_EQ(modeOf(dir_ + "/a"), 0700u);
  EXPECT_EQ(modeOf(dir_ + "/a/b"), 0700u);
  EXPECT_EQ(modeOf(dir_), 0755u);
  made = makePrivateDirectories(dir_ + "/a/b");
  ASSERT_TRUE(made.ok());
  EXPECT_TRUE(made->empty());
}

TEST_F(PrivateFilesTest, CreateAndTighten) {
  const std::string p = dir_ + "/secret";
  EXPECT_EQ(createPrivateFile(p).value(), true);
  EXPECT_EQ(createPrivateFile(p).value(), false) << "exists";
  EXPECT_EQ(modeOf(p), 0600u);
  EXPECT_FALSE(restrictToOwner(p).value().has_value()) << "already private";
  ASSERT_EQ(::chmod(p.c_str(), 0664), 0);
  EXPECT_EQ(restrictToOwner(p).value(), std::optional<unsigned>(0664u));
  EXPECT_EQ(modeOf(p), 0600u);
  EXPECT_FALSE(restrictToOwner(dir_ + "/absent").value().has_value());
  EXPECT_EQ(octal(0644), "0644");
  EXPECT_TRUE(openToOthers(0604));
  EXPECT_FALSE(openToOthers(0700));
}

}  // namespace
}  // namespace tollgate::files
