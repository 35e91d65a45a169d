// csv_reader_test.cpp — RFC 4180 parsing and line-numbered errors.
#include <gtest/gtest.h>

#include "data/csv_reader.h"
#include "engine/error.h"

using namespace engine;

TEST(Csv, QuotedFieldsNewlinesAndDoubledQuotes) {
    const std::string text =
        "\xEF\xBB\xBFprompt,response\r\n"
        "hello,world\r\n"
        "\"a, b\",\"she said \"\"hi\"\"\"\n"
        "\"two\nlines\",x\n"
        "last,row";
    CsvTable t = parse_csv(text, "d.csv");
    ASSERT_EQ(t.header, (std::vector<std::string>{"prompt", "response"}));
    ASSERT_EQ(t.rows.size(), 4u);
    EXPECT_EQ(t.rows[0].fields[1], "world");
    EXPECT_EQ(t.rows[0].line, 2);
    EXPECT_EQ(t.rows[1].fields[0], "a, b");
    EXPECT_EQ(t.rows[1].fields[1], "she said \"hi\"");
    EXPECT_EQ(t.rows[2].fields[0], "two\nlines");
    EXPECT_EQ(t.rows[2].line, 4);
    EXPECT_EQ(t.rows[3].line, 6);  // the quoted newline counted
    EXPECT_EQ(t.column("response"), 1);
    EXPECT_EQ(t.column("nope"), -1);
}

TEST(Csv, EmptyFieldsAndBlankLines) {
    CsvTable t = parse_csv("a,b\n\n,\nx,\n", "d.csv");
    ASSERT_EQ(t.rows.size(), 2u);
    EXPECT_EQ(t.rows[0].fields, (std::vector<std::string>{"", ""}));
    EXPECT_EQ(t.rows[1].fields, (std::vector<std::string>{"x", ""}));
}

static std::string error_of(const std::string& text) {
    try {
        parse_csv(text, "d.csv");
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
        return e.message();
    }
    return "no error";
}

TEST(Csv, ErrorsNameTheLine) {
    EXPECT_NE(error_of("a,b\n1,2\n\"open,3\n4,5\n").find("d.csv:3: a quoted field is never closed"), std::string::npos);
    EXPECT_NE(error_of("a,b\n1,2\n1,2,3\n").find("d.csv:3: 3 fields, but the header has 2"), std::string::npos);
    EXPECT_NE(error_of("a,b\nab\"c,d\n").find("d.csv:2: a quote inside an unquoted field"), std::string::npos);
    EXPECT_NE(error_of("a,b\n\"x\"y,d\n").find("d.csv:2: text after a closing quote"), std::string::npos);
    EXPECT_NE(error_of("").find("empty"), std::string::npos);
}
