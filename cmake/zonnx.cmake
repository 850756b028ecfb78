# SPDX-License-Identifier: Apache-2.0
#
# zonnx_add_model(<target>
#                 MODEL <file.onnx>            # relative to CMAKE_CURRENT_SOURCE_DIR
#                 NAME <c_name>                # prefix of every generated symbol
#                 [SHAPE <input=1x3x8x8> ...]  # fix dynamic input dimensions
#                 [CONST <input=file.npy> ...] # bind shape-deciding inputs
#                 [GOLDEN <n>]                 # also embed n oracle-checked records
#                 [GOLDEN_DATASET <digits|iris>]
#                 [OPTIONS <extra zonnx generate args> ...])
#
# Runs the zonnx generator at build time (outputs in the build directory) and
# adds <name>.c (and <name>_golden.c) plus their include directory to
# <target>. The generated code is rebuilt when the model or any generator
# source changes, and only then.

# Cache variables: zonnx_add_model() is called from other directory scopes.
get_filename_component(_zonnx_root ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
set(ZONNX_DIR ${_zonnx_root} CACHE INTERNAL "zonnx module root")
if(DEFINED PYTHON_EXECUTABLE)
  set(ZONNX_PYTHON ${PYTHON_EXECUTABLE} CACHE INTERNAL "Python running the zonnx generator")
else()
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(ZONNX_PYTHON ${Python3_EXECUTABLE} CACHE INTERNAL "Python running the zonnx generator")
endif()

function(zonnx_add_model target)
  cmake_parse_arguments(ZA "" "MODEL;NAME;GOLDEN;GOLDEN_DATASET" "SHAPE;CONST;OPTIONS" ${ARGN})
  if(NOT ZA_MODEL OR NOT ZA_NAME)
    message(FATAL_ERROR "zonnx_add_model(${target}): MODEL and NAME are required")
  endif()
  if(ZA_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "zonnx_add_model(${target}): unknown arguments ${ZA_UNPARSED_ARGUMENTS}")
  endif()
  get_filename_component(model ${ZA_MODEL} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  if(NOT EXISTS ${model})
    message(FATAL_ERROR "zonnx_add_model(${target}): model ${model} does not exist")
  endif()

  set(out ${CMAKE_BINARY_DIR}/zonnx/${ZA_NAME})
  set(outputs ${out}/${ZA_NAME}.c ${out}/${ZA_NAME}.h ${out}/${ZA_NAME}.json)
  set(args generate ${model} --name ${ZA_NAME} -o ${out})
  # Every generator source: editing the generator regenerates, nothing else does.
  file(GLOB_RECURSE generator CONFIGURE_DEPENDS
    ${ZONNX_DIR}/scripts/zonnx/*.py ${ZONNX_DIR}/scripts/zonnx/*.c ${ZONNX_DIR}/scripts/zonnx/*.h)
  set(deps ${model} ${generator})
  foreach(s ${ZA_SHAPE})
    list(APPEND args --shape ${s})
  endforeach()
  foreach(c ${ZA_CONST})
    string(REGEX REPLACE "=.*" "" cname ${c})
    string(REGEX REPLACE "^[^=]*=" "" cfile ${c})
    get_filename_component(cfile ${cfile} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND args --const ${cname}=${cfile})
    list(APPEND deps ${cfile})
  endforeach()
  if(ZA_GOLDEN OR ZA_GOLDEN_DATASET)
    if(ZA_GOLDEN)
      list(APPEND args --golden ${ZA_GOLDEN})
    endif()
    if(ZA_GOLDEN_DATASET)
      list(APPEND args --golden-dataset ${ZA_GOLDEN_DATASET})
    endif()
    list(APPEND outputs ${out}/${ZA_NAME}_golden.c ${out}/${ZA_NAME}_golden.h)
    set_property(GLOBAL APPEND PROPERTY ZONNX_GOLDENS ${ZA_NAME})
  endif()
  if(CONFIG_ZONNX_KERNELS_CMSIS_NN)
    list(APPEND args --kernels cmsis-nn)    # OPTIONS come after: a model may opt out
  endif()
  list(APPEND args ${ZA_OPTIONS})

  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${ZONNX_DIR}/scripts
            ${ZONNX_PYTHON} -m zonnx ${args}
    DEPENDS ${deps}
    COMMENT "zonnx: generating ${ZA_NAME} from ${ZA_MODEL}"
    VERBATIM
  )
  if(CONFIG_ZONNX_WERROR)
    set_source_files_properties(${outputs} PROPERTIES COMPILE_OPTIONS -Werror)
  endif()
  # Headers too, so that the target's own sources wait for the generator.
  target_sources(${target} PRIVATE ${outputs})
  # Other targets including the headers depend on zonnx_generate_<name>.
  add_custom_target(zonnx_generate_${ZA_NAME} DEPENDS ${outputs})
  target_include_directories(${target} PUBLIC ${out} ${ZONNX_DIR}/include)
  set_property(GLOBAL APPEND PROPERTY ZONNX_MODELS ${ZA_NAME})
endfunction()

# CONFIG_ZONNX_MODEL: the zero-CMake path. The model (relative to the
# application) is generated into <target>, the zonnx library.
function(zonnx_model_from_kconfig target)
  get_filename_component(model ${CONFIG_ZONNX_MODEL} ABSOLUTE BASE_DIR ${APPLICATION_SOURCE_DIR})
  set(shapes)
  if(NOT CONFIG_ZONNX_MODEL_SHAPES STREQUAL "")
    string(REPLACE "," ";" shapes "${CONFIG_ZONNX_MODEL_SHAPES}")
  endif()
  set(golden)
  if(CONFIG_ZONNX_MODEL_GOLDEN GREATER 0)
    set(golden GOLDEN ${CONFIG_ZONNX_MODEL_GOLDEN})
  endif()
  zonnx_add_model(${target} MODEL ${model} NAME ${CONFIG_ZONNX_MODEL_NAME} SHAPE ${shapes} ${golden})
  zephyr_include_directories(${CMAKE_BINARY_DIR}/zonnx/${CONFIG_ZONNX_MODEL_NAME})
  add_dependencies(app zonnx_generate_${CONFIG_ZONNX_MODEL_NAME})
endfunction()

# Lists every model (and its golden data) of the build for the shell:
# zonnx_models[] / zonnx_goldens[] in <build>/zonnx/zonnx_registry.c.
function(zonnx_write_registry target)
  get_property(models GLOBAL PROPERTY ZONNX_MODELS)
  get_property(goldens GLOBAL PROPERTY ZONNX_GOLDENS)
  set(text "/* Generated by cmake/zonnx.cmake: the models of this build. DO NOT EDIT. */\n")
  string(APPEND text "#include <stddef.h>\n#include \"zonnx/golden.h\"\n\n")
  foreach(m ${models})
    string(APPEND text "extern const struct zonnx_model ${m}_model;\n")
  endforeach()
  foreach(m ${goldens})
    string(APPEND text "extern const struct zonnx_golden ${m}_golden;\n")
  endforeach()
  string(APPEND text "\nconst struct zonnx_model *const zonnx_models[] = {")
  foreach(m ${models})
    string(APPEND text "&${m}_model, ")
  endforeach()
  string(APPEND text "NULL};\nconst struct zonnx_golden *const zonnx_goldens[] = {")
  foreach(m ${goldens})
    string(APPEND text "&${m}_golden, ")
  endforeach()
  string(APPEND text "NULL};\n")
  set(file ${CMAKE_BINARY_DIR}/zonnx/zonnx_registry.c)
  file(CONFIGURE OUTPUT ${file} CONTENT "${text}")
  target_sources(${target} PRIVATE ${file})
endfunction()
