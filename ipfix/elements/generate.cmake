# Turns the information element CSVs into a C++ table, at build time:
#
#   cmake -DIANA_CSV=... -DANTREA_CSV=... -DOUT=.../element_table.inc -P generate.cmake
#
# CSV columns: enterprise,element_id,name,data_type,length ("variable" = 65535).
#
# The output defines two arrays for ipfix/elements.cpp:
#   - element_table: every element, sorted by (enterprise, id), for binary search by id;
#   - element_name_index: indices into element_table, sorted by name.
# elements.cpp checks both orders (and uniqueness) with static_assert, so a bad table
# cannot compile.
#
# Reverse elements (PEN 29305, RFC 5103 6.1) are derived here from the IANA rows: the same
# id, the same type and length, and the name "reverse" + the name with its first letter
# upper-cased. Every IANA element is reversible except those RFC 5103 6.1 lists as not
# reversible, plus the later elements of the same kinds:
#   - identifiers of the metering/exporting process: 137 commonPropertiesId,
#     143 meteringProcessId, 144 exportingProcessId, 145 templateId, 148 flowId,
#     149 observationDomainId;
#   - process configuration: 130, 131 exporterIPv4/IPv6Address, 173 flowKeyIndicator,
#     211-217 collector/export addresses, interface, protocol and ports;
#   - process statistics: 40-42 exported*TotalCount, 163-168 observed/ignored/notSent
#     totals, 407 ignoredDataRecordTotalCount;
#   - 210 paddingOctets and 239 biflowDirection;
#   - mediator provenance (RFC 7119): 403-405 originalExporter*/originalObservationDomainId,
#     406 intermediateProcessId;
#   - element type information (RFC 5610): 339-346 informationElement*,
#     privateEnterpriseNumber.
# So all counters, timestamps, flags, flow keys and addresses of the flow are reversible.

cmake_minimum_required(VERSION 3.25)

foreach(var IANA_CSV ANTREA_CSV OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "generate.cmake: -D${var}=... is required")
  endif()
endforeach()

set(not_reversible
  137 143 144 145 148 149
  130 131 173 211 212 213 214 215 216 217
  40 41 42 163 164 165 166 167 168 407
  210 239
  403 404 405 406
  339 340 341 342 343 344 345 346)

set(types
  octetArray octet_array unsigned8 unsigned8 unsigned16 unsigned16 unsigned32 unsigned32
  unsigned64 unsigned64 signed8 signed8 signed16 signed16 signed32 signed32 signed64 signed64
  float32 float32 float64 float64 boolean boolean macAddress mac_address string string
  dateTimeSeconds date_time_seconds dateTimeMilliseconds date_time_milliseconds
  dateTimeMicroseconds date_time_microseconds dateTimeNanoseconds date_time_nanoseconds
  ipv4Address ipv4_address ipv6Address ipv6_address basicList basic_list
  subTemplateList sub_template_list subTemplateMultiList sub_template_multi_list)

# rows: "<pen, 10 digits>:<id, 5 digits>|<name>|<cpp type>|<length>", so a plain
# lexicographic sort orders them by (pen, id).
set(rows "")

function(pad number width result)
  string(LENGTH "${number}" len)
  math(EXPR zeros "${width} - ${len}")
  set(padded "${number}")
  if(zeros GREATER 0)
    foreach(i RANGE 1 ${zeros})
      set(padded "0${padded}")
    endforeach()
  endif()
  set(${result} "${padded}" PARENT_SCOPE)
endfunction()

function(add_row pen id name type length)
  pad(${pen} 10 p)
  pad(${id} 5 i)
  set(rows ${rows} "${p}:${i}|${name}|${type}|${length}" PARENT_SCOPE)
endfunction()

function(read_csv file expect_pen)
  file(STRINGS "${file}" lines)
  set(line_no 0)
  foreach(line IN LISTS lines)
    math(EXPR line_no "${line_no} + 1")
    if(line_no EQUAL 1)
      if(NOT line STREQUAL "enterprise,element_id,name,data_type,length")
        message(FATAL_ERROR "${file}:1: expected the header "
                            "'enterprise,element_id,name,data_type,length', got '${line}'")
      endif()
      continue()
    endif()
    if(line STREQUAL "")
      continue()
    endif()
    if(NOT line MATCHES "^([0-9]+),([0-9]+),([A-Za-z][A-Za-z0-9_]*),([A-Za-z0-9]+),([0-9]+|variable)$")
      message(FATAL_ERROR "${file}:${line_no}: expected 'enterprise,id,name,type,length' "
                          "with a numeric id, an identifier name and a numeric or 'variable' "
                          "length, got '${line}'")
    endif()
    set(pen ${CMAKE_MATCH_1})
    set(id ${CMAKE_MATCH_2})
    set(name ${CMAKE_MATCH_3})
    set(type ${CMAKE_MATCH_4})
    set(length ${CMAKE_MATCH_5})
    if(name MATCHES "^(e[0-9]+)?id[0-9]+$")
      message(FATAL_ERROR "${file}:${line_no}: the name '${name}' has the form "
                          "element_name() gives unknown elements")
    endif()
    if(NOT pen EQUAL expect_pen)
      message(FATAL_ERROR "${file}:${line_no}: enterprise ${pen}, expected ${expect_pen}")
    endif()
    if(id GREATER 32767)
      message(FATAL_ERROR "${file}:${line_no}: element id ${id} is above 32767")
    endif()
    list(FIND types "${type}" type_index)
    math(EXPR odd "${type_index} % 2")
    if(type_index EQUAL -1 OR odd EQUAL 1)
      message(FATAL_ERROR "${file}:${line_no}: unknown data type '${type}' (RFC 7012 3.1 names, "
                          "e.g. unsigned64, string, dateTimeMilliseconds)")
    endif()
    math(EXPR cpp_index "${type_index} + 1")
    list(GET types ${cpp_index} cpp_type)
    if(length STREQUAL "variable")
      set(length 65535)
    elseif(length EQUAL 0 OR length GREATER 65535)
      message(FATAL_ERROR "${file}:${line_no}: length ${length} is not 1..65535 or 'variable'")
    endif()
    add_row(${pen} ${id} ${name} ${cpp_type} ${length})
    if(pen EQUAL 0)
      list(FIND not_reversible ${id} excluded)
      if(excluded EQUAL -1)
        string(SUBSTRING "${name}" 0 1 first)
        string(SUBSTRING "${name}" 1 -1 rest)
        string(TOUPPER "${first}" first)
        add_row(29305 ${id} "reverse${first}${rest}" ${cpp_type} ${length})
      endif()
    endif()
  endforeach()
  set(rows ${rows} PARENT_SCOPE)
endfunction()

read_csv("${IANA_CSV}" 0)
read_csv("${ANTREA_CSV}" 56506)
list(SORT rows)

set(table "")
set(names "")
set(index 0)
set(previous_key "")
foreach(row IN LISTS rows)
  string(REPLACE "|" ";" parts "${row}")
  list(GET parts 0 key)
  list(GET parts 1 name)
  list(GET parts 2 type)
  list(GET parts 3 length)
  if(key STREQUAL previous_key)
    message(FATAL_ERROR "element ${key} (${name}) is defined twice")
  endif()
  set(previous_key "${key}")
  string(REPLACE ":" ";" key_parts "${key}")
  list(GET key_parts 0 pen)
  list(GET key_parts 1 id)
  # Strip the zero padding (math() would read a leading 0 as decimal anyway).
  math(EXPR pen "${pen}")
  math(EXPR id "${id}")
  string(APPEND table "    {${pen}u, ${id}, \"${name}\", data_type::${type}, ${length}},\n")
  # A tab sorts before any name character, so "a\t" < "ab\t" as "a" < "ab".
  list(APPEND names "${name}\t${index}")
  math(EXPR index "${index} + 1")
endforeach()

list(SORT names)
set(name_index "")
set(previous_name "")
foreach(entry IN LISTS names)
  string(REPLACE "\t" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 i)
  if(name STREQUAL previous_name)
    message(FATAL_ERROR "element name '${name}' is defined twice")
  endif()
  set(previous_name "${name}")
  string(APPEND name_index "    ${i},\n")
endforeach()

set(content "// Generated by ipfix/elements/generate.cmake from
// ${IANA_CSV} and
// ${ANTREA_CSV}. Do not edit.

inline constexpr element_info element_table[] = {
${table}};

inline constexpr std::uint16_t element_name_index[] = {
${name_index}};
")

file(WRITE "${OUT}" "${content}")
