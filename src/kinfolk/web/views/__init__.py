"""The web application's pages; each module is one area of the site."""
