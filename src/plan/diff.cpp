#include "plan/diff.hpp"

#include <algorithm>
#include <sstream>

namespace moat::plan {

namespace {

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

// 4000 x 4000 cells of 2 bytes: 32 MB at most.
constexpr std::size_t max_cells = 16'000'000;

void diff_middle(const std::vector<std::string>& a, const std::vector<std::string>& b, std::vector<std::string>& out) {
    std::size_t n = a.size(), m = b.size();
    if (n * m > max_cells) {
        for (const auto& l : a) {
            out.push_back("- " + l);
        }
        for (const auto& l : b) {
            out.push_back("+ " + l);
        }
        return;
    }
    // lcs[i][j]: LCS length of a[i..] and b[j..].
    std::vector<std::uint16_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint16_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;) {
        for (std::size_t j = m; j-- > 0;) {
            at(i, j) = a[i] == b[j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
        }
    }
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && a[i] == b[j]) {
            out.push_back("  " + a[i++]);
            ++j;
        } else if (j < m && (i == n || at(i, j + 1) > at(i + 1, j))) {
            out.push_back("+ " + b[j++]);
        } else {
            out.push_back("- " + a[i++]);
        }
    }
}

}  // namespace

std::vector<std::string> diff_lines(const std::string& before, const std::string& after) {
    auto a = split(before), b = split(after);
    std::size_t head = 0;
    while (head < a.size() && head < b.size() && a[head] == b[head]) {
        ++head;
    }
    std::size_t tail = 0;
    while (tail < a.size() - head && tail < b.size() - head && a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) {
        ++tail;
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < head; ++i) {
        out.push_back("  " + a[i]);
    }
    diff_middle({a.begin() + head, a.end() - tail}, {b.begin() + head, b.end() - tail}, out);
    for (std::size_t i = a.size() - tail; i < a.size(); ++i) {
        out.push_back("  " + a[i]);
    }
    return out;
}

}  // namespace moat::plan
