# The control socket (cb_ctl) and the operator's CLI (callbridgectl).
# Included by gateway/CMakeLists.txt.
#
# cb_ctl needs only logging (cb_log, gateway/CMakeLists.txt) from the rest
# of the gateway, not all of cb_gw.

add_library(cb_ctl STATIC
  ${CMAKE_CURRENT_LIST_DIR}/ctl.c
  ${CMAKE_CURRENT_LIST_DIR}/ctl_ops.c
)
target_include_directories(cb_ctl PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(cb_ctl PUBLIC cb_config cb_log re_ext
  PkgConfig::JANSSON Threads::Threads)

add_executable(callbridgectl ${CMAKE_CURRENT_LIST_DIR}/callbridgectl.c)
target_link_libraries(callbridgectl PRIVATE cb_config PkgConfig::JANSSON)
install(TARGETS callbridgectl RUNTIME DESTINATION bin)
