# The control socket (cb_ctl) and the operator's CLI (callbridgectl).
# Included by gateway/CMakeLists.txt.
#
# cb_ctl needs only logging from the rest of the gateway, so it links a
# small cb_log library instead of all of cb_gw: the control socket and its
# tests build even while other parts of the gateway are being changed.
# (cb_gw compiles log.c too; a static link takes log.o from whichever
# archive comes first, so the two never clash.)
if(NOT TARGET cb_log)
  add_library(cb_log STATIC ${CMAKE_CURRENT_LIST_DIR}/log.c)
  target_include_directories(cb_log PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(cb_log PUBLIC cb_config re_ext)
endif()

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
