// MathJax configuration, read by the MathJax file vendored into javascripts/vendor/
// (`make docs` unpacks it from the npm registry's mathjax package; nothing is fetched
// when a page is viewed). Typesets the spans of pymdownx.arithmatex (`generic: true`)
// on Markdown pages and `$...$` in the Markdown cells of the executed notebooks.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    // Not ".*|" (ignore everything but arithmatex spans): a notebook's math sits in
    // plain <p>/<li> elements, which that would skip. Code (<pre>, <code>) is skipped
    // by MathJax's default skipHtmlTags; the site's chrome is ignored here.
    ignoreHtmlClass: "tex2jax_ignore|md-header|md-nav|md-footer|md-search|md-sidebar",
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
  },
  svg: { fontCache: "global" },
};
