// csv lines with a declared layout (include/tos/csv.h).
#include <gtest/gtest.h>

#include <cmath>

#include "tos/csv.h"

namespace tos {
namespace {

TEST(CsvLayoutTest, DecodesTypedNamedColumns) {
  auto layout = CsvLayout::FromSpec("y:float,x:float[2],n:int64,id:string");
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->num_fields(), 5u);
  EXPECT_EQ(layout->ToSpec(), "y:float,x:float[2],n:int64,id:string");
  Example row;
  ASSERT_TRUE(layout->Decode("0.5,1e-3,+2,-7,row-7\r", &row).ok());
  EXPECT_EQ(**row.Floats("y"), (std::vector<float>{0.5f}));
  EXPECT_EQ(**row.Floats("x"), (std::vector<float>{1e-3f, 2.0f}));
  EXPECT_EQ(**row.Int64s("n"), (std::vector<int64_t>{-7}));
  EXPECT_EQ(**row.Bytes("id"), (std::vector<std::string>{"row-7"}));
}

TEST(CsvLayoutTest, QuotedFieldsAsRfc4180WritesThem) {
  auto layout = CsvLayout::FromSpec("a:string,b:string,c:int64").value();
  Example row;
  ASSERT_TRUE(layout.Decode(R"("x,y","say ""hi""",3)", &row).ok());
  EXPECT_EQ(**row.Bytes("a"), (std::vector<std::string>{"x,y"}));
  EXPECT_EQ(**row.Bytes("b"), (std::vector<std::string>{"say \"hi\""}));
  EXPECT_EQ(layout.Decode(R"("open,1,2)", &row).message(),
            "csv line: the quote at byte 0 is never closed");
}

TEST(CsvLayoutTest, ErrorsNameTheFieldTheColumnAndTheText) {
  auto layout = CsvLayout::FromSpec("y:float,x:float[2],n:int64").value();
  Example row;
  Status st = layout.Decode("1,2,abc,4", &row);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_EQ(st.message(), "csv line: field 3 (column 'x[1]', float): 'abc' is not a float");
  st = layout.Decode("1,2,3,4.5", &row);
  EXPECT_EQ(st.message(), "csv line: field 4 (column 'n', int64): '4.5' is not an int64");
  st = layout.Decode("1,2,3", &row);
  EXPECT_EQ(st.message(), "csv line has 3 fields; the layout y:float,x:float[2],n:int64 has 4");
  st = layout.Decode("1,,3,4", &row);
  EXPECT_EQ(st.message(), "csv line: field 2 (column 'x[0]', float): '' is not a float");
  st = layout.Decode("1,1e99,3,4", &row);
  EXPECT_EQ(st.message(),
            "csv line: field 2 (column 'x[0]', float): '1e99' is too large for a float");
  st = layout.Decode("1,-1e999,3,4", &row);
  EXPECT_EQ(st.message(),
            "csv line: field 2 (column 'x[0]', float): '-1e999' is too large for a float");
}

// Values too small for a float are 0 or a subnormal, as strtof reads them (data written from
// doubles has them), not an error.
TEST(CsvLayoutTest, TinyValuesBecomeZeroOrSubnormalFloats) {
  auto layout = CsvLayout::FromSpec("x:float[4]").value();
  Example row;
  Status st = layout.Decode("1e-50,-1e-400,1e-40,+2.5e-39", &row);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::vector<float>& x = **row.Floats("x");
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_TRUE(std::signbit(x[1]));
  EXPECT_EQ(x[2], std::strtof("1e-40", nullptr));  // a subnormal
  EXPECT_GT(x[2], 0.0f);
  EXPECT_EQ(x[3], std::strtof("2.5e-39", nullptr));
}

TEST(CsvLayoutTest, BadSpecsAreRefusedNamingThePart) {
  for (const char* spec :
       {"y", "y:double", "x:float[0]", "x:float[2", "a:int64,a:float", ":float"}) {
    auto l = CsvLayout::FromSpec(spec);
    EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument) << spec;
    EXPECT_NE(l.status().message().find("csv layout '" + std::string(spec) + "'"),
              std::string::npos)
        << l.status().message();
  }
}

TEST(CsvLayoutTest, TabSeparatedAndSpecialFloats) {
  auto layout = CsvLayout::FromSpec("a:float[3]", '\t').value();
  Example row;
  ASSERT_TRUE(layout.Decode("inf\t-inf\tnan", &row).ok());
  auto v = **row.Floats("a");
  EXPECT_TRUE(std::isinf(v[0]) && v[0] > 0);
  EXPECT_TRUE(std::isinf(v[1]) && v[1] < 0);
  EXPECT_TRUE(std::isnan(v[2]));
}

}  // namespace
}  // namespace tos
