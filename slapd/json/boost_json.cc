// Boost.JSON compiled once, header-only style, for the whole program (Debian ships its headers).
#include <boost/json/src.hpp>
