// The driver's console: node output lines and a live status line that does not get torn by
// them. On a terminal the status line is redrawn in place; otherwise it is printed as a
// plain line at most every `plain_interval`.
#pragma once

#include <string>

namespace tos {

void ConsoleLine(const std::string& line);      // one full line to stderr
void ConsoleStatus(const std::string& status);  // the live line ("" clears it)
bool ConsoleIsTerminal();

}  // namespace tos
