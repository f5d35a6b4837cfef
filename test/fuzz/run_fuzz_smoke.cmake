# ctest <fuzzer>_smoke: regenerates the seed corpus, copies it to a work directory, and
# runs the fuzzer on the copy for SECONDS. Fails if the fuzzer does.
#
#   cmake -DGENERATOR=... [-DGENERATOR_ARG=...] -DFUZZER=... -DSEEDS=dir -DWORK=dir
#         -DSECONDS=30 -P run_fuzz_smoke.cmake

foreach(var GENERATOR FUZZER SEEDS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz_smoke.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${GENERATOR} ${SEEDS} ${GENERATOR_ARG} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the seed corpus generator failed: ${rc}")
endif()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds ${SEEDS}/*)
if(NOT seeds)
  message(FATAL_ERROR "no seeds in ${SEEDS}")
endif()
file(COPY ${seeds} DESTINATION ${WORK}/corpus)

execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -print_final_stats=1
          -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus
  RESULT_VARIABLE rc)
file(GLOB artifacts ${WORK}/artifacts/*)
if(NOT rc EQUAL 0 OR artifacts)
  message(FATAL_ERROR "the fuzzer failed (exit ${rc}); reproduce with: ${FUZZER} ${artifacts}")
endif()
