// Boost.JSON compiled once for slap_node (header-only library; the node never links slapd).
#include <boost/json/src.hpp>
