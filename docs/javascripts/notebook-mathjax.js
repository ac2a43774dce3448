// Intentionally empty. mkdocs-jupyter's notebook template loads the URL in mkdocs.yml's
// custom_mathjax_url (by default MathJax 2 from a CDN); the site's own MathJax 3 (extra_javascript:
// javascripts/mathjax.js, then javascripts/vendor/mathjax/tex-mml-chtml.js) typesets the chapters.
