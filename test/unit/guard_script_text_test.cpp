// How zdm.analyze / zdm.lint cut a SQL text: the first token after comments, the comments that belong
// to a statement (for inline "-- zdm:allow"), and line numbers.
#include <gtest/gtest.h>

#include <string>

#include "guard/pure/script_text.hpp"

using namespace zdm::guard::script;

TEST(SkipSpaceAndComments, SkipsWhitespaceLineAndNestedBlockComments) {
  std::string s = " \t\n-- a comment\n/* outer /* inner */ still outer */\r\n  ALTER TABLE t";
  EXPECT_EQ(s.substr(skip_space_and_comments(s, 0), 5), "ALTER");
}

TEST(SkipSpaceAndComments, StopsAtTheEndOfAnUnterminatedComment) {
  std::string s = "/* never closed";
  EXPECT_EQ(skip_space_and_comments(s, 0), s.size());
  std::string t = "-- only a comment";
  EXPECT_EQ(skip_space_and_comments(t, 0), t.size());
}

TEST(SkipSpaceAndComments, DoesNotTakeAMinusForAComment) {
  std::string s = "  -1";
  EXPECT_EQ(skip_space_and_comments(s, 0), 2u);
}

TEST(TrailingCommentEnd, ALineCommentAfterTheSemicolonBelongsToTheStatement) {
  std::string s = "ALTER TABLE t ADD COLUMN a int; -- zdm:allow x\nCREATE INDEX ON t (a);";
  size_t semi = s.find(';');
  EXPECT_EQ(trailing_comment_end(s, semi + 1), s.find('\n'));
}

TEST(TrailingCommentEnd, ABlockCommentCountsOnlyWhenNothingFollowsOnTheLine) {
  std::string alone = "A; /* zdm:allow x */  \nB;";
  EXPECT_EQ(trailing_comment_end(alone, 2), alone.find("*/") + 2);
  std::string followed = "A; /* c */ B;";
  EXPECT_EQ(trailing_comment_end(followed, 2), 2u);
}

TEST(TrailingCommentEnd, AStatementOnTheSameLineIsNotAComment) {
  std::string s = "A; B; -- zdm:allow x";
  EXPECT_EQ(trailing_comment_end(s, 2), 2u);
}

TEST(Locate, SplitsCommentsBetweenNeighbours) {
  // raw_parser: the second statement starts right after the first ';' and runs to its own ';'.
  std::string s = "ALTER TABLE t ADD a int; -- zdm:allow r1\n-- zdm:allow r2\nCREATE INDEX ON t (a);";
  int first_len = static_cast<int>(s.find(';'));
  StatementSpan one = locate(s, 0, first_len, 0);
  EXPECT_EQ(s.substr(one.begin, one.body_end - one.begin), "ALTER TABLE t ADD a int");
  EXPECT_EQ(s.substr(one.begin, one.own_end - one.begin), "ALTER TABLE t ADD a int; -- zdm:allow r1");

  int second_loc = first_len + 1;
  int second_len = static_cast<int>(s.rfind(';')) - second_loc;
  StatementSpan two = locate(s, second_loc, second_len, one.own_end);
  EXPECT_EQ(s.substr(two.begin, two.body_end - two.begin), "\n-- zdm:allow r2\nCREATE INDEX ON t (a)");
  EXPECT_EQ(s.substr(two.first_token, 6), "CREATE");
}

TEST(Locate, TheLastStatementWithoutSemicolonRunsToTheEnd) {
  std::string s = "SELECT 1;\n  VACUUM t  ";
  StatementSpan span = locate(s, 9, 0, 9);
  EXPECT_EQ(span.body_end, s.size());
  EXPECT_EQ(span.own_end, s.size());
  EXPECT_EQ(s.substr(span.first_token, 6), "VACUUM");
}

TEST(Locate, ClampsPositionsOutsideTheText) {
  std::string s = "A";
  StatementSpan span = locate(s, 10, 5, 0);
  EXPECT_LE(span.begin, span.body_end);
  EXPECT_EQ(span.body_end, s.size());
}

TEST(LineCounter, CountsLinesOfIncreasingPositions) {
  std::string s = "a\nb\r\n\nc";
  LineCounter lines(s);
  EXPECT_EQ(lines.line_at(0), 1);
  EXPECT_EQ(lines.line_at(s.find('b')), 2);
  EXPECT_EQ(lines.line_at(s.find('c')), 4);
  EXPECT_EQ(lines.line_at(s.size() + 10), 4);
}
