// Shared by the report and the search page (inlined into both by hybrid.web.page_template).
// Query terms: lower-cased words of two or more letters, stop words dropped, longest first.
const STOP = new Set("a an and are as at be by do does for from has have how in is it its of on or that the this to was were what when where which who why will with".split(" "));

function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

function terms(text) {
  const words = text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 1 && !STOP.has(w));
  return [...new Set(words)].sort((a, b) => b.length - a.length);
}

// The passage, HTML-escaped, with every query term marked (whole words, any case).
function highlight(text, words) {
  const safe = esc(text);
  if (!words.length) return safe;
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})(?![\\p{L}\\p{N}])`, "giu");
  return safe.replace(pattern, "<mark>$1</mark>");
}
