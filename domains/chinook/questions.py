"""The Chinook domain's labeled seed samples and its hand-written test questions.

The samples (at most 10, mostly one table, three of them wrong on purpose) are all that the pipeline learns from
this domain. The test questions are written apart from them: no test question repeats a sample's question or its
template, and none reaches the pipeline. Every gold SQL is DuckDB SQL that returns a non-empty result, and a query
with an outer ORDER BY orders by keys that no two of its rows share, so its row order is fixed.
"""

from dataclasses import dataclass
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp


@dataclass(frozen=True)
class Sample:
    """A question, a candidate SQL, the tables it reads, and whether the SQL answers the question."""

    question: str
    sql: str
    tables: tuple[str, ...]
    label: bool


@dataclass(frozen=True)
class Test:
    """A held-out question with its gold SQL and its category."""

    question: str
    sql: str
    category: str


SAMPLES: tuple[Sample, ...] = (
    # --- correct ----------------------------------------------------------------------------------------------
    Sample("How many albums are in the catalogue?", "SELECT COUNT(*) FROM album", ("album",), True),
    Sample(
        "Which customers use a Gmail address?",
        "SELECT first_name, last_name, email FROM customer WHERE email LIKE '%@gmail.com'",
        ("customer",),
        True,
    ),
    Sample(
        "How many tracks are priced at 1.99?",
        "SELECT COUNT(*) FROM track WHERE unit_price = 1.99",
        ("track",),
        True,
    ),
    Sample(
        "Which employee does not report to anyone?",
        "SELECT first_name, last_name, title FROM employee WHERE reports_to IS NULL",
        ("employee",),
        True,
    ),
    Sample(
        "How many invoices were billed to Canada in 2008?",
        "SELECT COUNT(*) FROM invoice WHERE billing_country = 'Canada' "
        "AND invoice_date >= DATE '2008-01-01' AND invoice_date < DATE '2009-01-01'",
        ("invoice",),
        True,
    ),
    Sample(
        "How many tracks does each album have?",
        "SELECT album_id, COUNT(*) AS tracks FROM track GROUP BY album_id",
        ("track",),
        True,
    ),
    Sample(
        "Which albums by Queen does the store sell?",
        "SELECT album.title FROM album JOIN artist ON album.artist_id = artist.artist_id WHERE artist.name = 'Queen'",
        ("album", "artist"),
        True,
    ),
    # --- wrong --------------------------------------------------------------------------------------------------
    # A country compared with the city column.
    Sample(
        "How many customers live in Germany?",
        "SELECT COUNT(*) FROM customer WHERE city = 'Germany'",
        ("customer",),
        False,
    ),
    # Seconds, where the question asks for minutes.
    Sample(
        "How long is the longest track, in minutes?",
        "SELECT MAX(milliseconds) / 1000 FROM track",
        ("track",),
        False,
    ),
    # Ascending order: the genre with the fewest tracks.
    Sample(
        "Which genre id has the most tracks?",
        "SELECT genre_id, COUNT(*) AS tracks FROM track GROUP BY genre_id ORDER BY tracks ASC LIMIT 1",
        ("track",),
        False,
    ),
)

VIDEO = "'Protected MPEG-4 video file'"

TESTS: tuple[Test, ...] = (
    # --- filter -------------------------------------------------------------------------------------------------
    Test(
        "List the first and last names of the employees whose job title is IT Staff.",
        "SELECT first_name, last_name FROM employee WHERE title = 'IT Staff'",
        "filter",
    ),
    Test(
        "Which customers live in Brazil? Give their first and last names.",
        "SELECT first_name, last_name FROM customer WHERE country = 'Brazil'",
        "filter",
    ),
    Test(
        "Which tracks run longer than 40 minutes? Give the track names.",
        "SELECT name FROM track WHERE milliseconds > 40 * 60000",
        "filter",
    ),
    Test(
        "What are the e-mail addresses of the Canadian customers who have no fax number?",
        "SELECT email FROM customer WHERE country = 'Canada' AND fax IS NULL",
        "filter",
    ),
    Test(
        "Which tracks were composed by Jimi Hendrix?",
        "SELECT name FROM track WHERE composer = 'Jimi Hendrix'",
        "filter",
    ),
    Test(
        "Which album titles contain the word Greatest?",
        "SELECT title FROM album WHERE title LIKE '%Greatest%'",
        "filter",
    ),
    Test(
        "Which customers in the USA buy for a company? Show first name, last name and company.",
        "SELECT first_name, last_name, company FROM customer WHERE country = 'USA' AND company IS NOT NULL",
        "filter",
    ),
    # --- aggregate ----------------------------------------------------------------------------------------------
    Test("How many customers does the store have?", "SELECT COUNT(*) FROM customer", "aggregate"),
    Test(
        "What is the average length of a track in minutes?",
        "SELECT AVG(milliseconds) / 60000.0 FROM track",
        "aggregate",
    ),
    Test("What is the total amount billed over all invoices?", "SELECT SUM(total) FROM invoice", "aggregate"),
    Test(
        "How many invoices were billed to Germany?",
        "SELECT COUNT(*) FROM invoice WHERE billing_country = 'Germany'",
        "aggregate",
    ),
    Test("What is the highest total of a single invoice?", "SELECT MAX(total) FROM invoice", "aggregate"),
    Test(
        "What is the average invoice total for invoices billed to the USA?",
        "SELECT AVG(total) FROM invoice WHERE billing_country = 'USA'",
        "aggregate",
    ),
    Test(
        "How many tracks have no composer listed?",
        "SELECT COUNT(*) FROM track WHERE composer IS NULL",
        "aggregate",
    ),
    # --- group_by -----------------------------------------------------------------------------------------------
    Test(
        "How many customers are there in each country?",
        "SELECT country, COUNT(*) FROM customer GROUP BY country",
        "group_by",
    ),
    Test(
        "What are the total sales per billing country?",
        "SELECT billing_country, SUM(total) FROM invoice GROUP BY billing_country",
        "group_by",
    ),
    Test(
        "How many tracks are there of each media type? Show the media type name and the count.",
        "SELECT m.name, COUNT(*) FROM track AS t JOIN media_type AS m ON t.media_type_id = m.media_type_id "
        "GROUP BY m.name",
        "group_by",
    ),
    Test(
        "How many employees hold each job title?",
        "SELECT title, COUNT(*) FROM employee GROUP BY title",
        "group_by",
    ),
    Test(
        "How many customers does each support rep look after? Show the rep's employee id and the number.",
        "SELECT support_rep_id, COUNT(*) FROM customer GROUP BY support_rep_id",
        "group_by",
    ),
    Test(
        "What is the average track length in seconds for each genre? Show the genre name.",
        "SELECT g.name, AVG(t.milliseconds) / 1000.0 FROM track AS t JOIN genre AS g ON t.genre_id = g.genre_id "
        "GROUP BY g.name",
        "group_by",
    ),
    # --- join ---------------------------------------------------------------------------------------------------
    Test(
        "Which artist released the album Big Ones?",
        "SELECT ar.name FROM album AS al JOIN artist AS ar ON al.artist_id = ar.artist_id WHERE al.title = 'Big Ones'",
        "join",
    ),
    Test(
        "List the track names on the album Jagged Little Pill.",
        "SELECT t.name FROM track AS t JOIN album AS al ON t.album_id = al.album_id "
        "WHERE al.title = 'Jagged Little Pill'",
        "join",
    ),
    Test(
        "What genre is the track Bohemian Rhapsody?",
        "SELECT g.name FROM track AS t JOIN genre AS g ON t.genre_id = g.genre_id WHERE t.name = 'Bohemian Rhapsody'",
        "join",
    ),
    Test(
        "Who is the support rep of the customer Kathy Chase? Give the rep's first and last name.",
        "SELECT e.first_name, e.last_name FROM customer AS c JOIN employee AS e ON c.support_rep_id = e.employee_id "
        "WHERE c.first_name = 'Kathy' AND c.last_name = 'Chase'",
        "join",
    ),
    Test(
        "Which tracks are on the playlist Heavy Metal Classic?",
        "SELECT t.name FROM playlist AS p JOIN playlist_track AS pt ON p.playlist_id = pt.playlist_id "
        "JOIN track AS t ON pt.track_id = t.track_id WHERE p.name = 'Heavy Metal Classic'",
        "join",
    ),
    Test(
        "Which customers bought the track Balls to the Wall? Give their first and last names.",
        "SELECT c.first_name, c.last_name FROM customer AS c JOIN invoice AS i ON c.customer_id = i.customer_id "
        "JOIN invoice_line AS l ON i.invoice_id = l.invoice_id JOIN track AS t ON l.track_id = t.track_id "
        "WHERE t.name = 'Balls to the Wall'",
        "join",
    ),
    Test(
        "List every employee who has a manager, with the manager's first and last name next to theirs.",
        "SELECT e.first_name, e.last_name, m.first_name, m.last_name FROM employee AS e "
        "JOIN employee AS m ON e.reports_to = m.employee_id",
        "join",
    ),
    Test(
        "Show the invoice dates and totals of the customer Frank Harris.",
        "SELECT i.invoice_date, i.total FROM invoice AS i JOIN customer AS c ON i.customer_id = c.customer_id "
        "WHERE c.first_name = 'Frank' AND c.last_name = 'Harris'",
        "join",
    ),
    # --- order_limit (top-k) ------------------------------------------------------------------------------------
    Test(
        "What are the 5 longest tracks? Show the name and the length in milliseconds.",
        "SELECT name, milliseconds FROM track ORDER BY milliseconds DESC LIMIT 5",
        "order_limit",
    ),
    Test(
        "Which 3 customers have spent the most in total? Show their names and the amount.",
        "SELECT c.first_name, c.last_name, SUM(i.total) AS spent FROM customer AS c "
        "JOIN invoice AS i ON c.customer_id = i.customer_id "
        "GROUP BY c.customer_id, c.first_name, c.last_name ORDER BY spent DESC LIMIT 3",
        "order_limit",
    ),
    Test(
        "Which artist has the most albums in the catalogue?",
        "SELECT ar.name FROM artist AS ar JOIN album AS al ON ar.artist_id = al.artist_id "
        "GROUP BY ar.artist_id, ar.name ORDER BY COUNT(*) DESC LIMIT 1",
        "order_limit",
    ),
    Test(
        "What are the 5 best-selling genres by number of tracks sold?",
        "SELECT g.name, SUM(l.quantity) AS sold FROM invoice_line AS l JOIN track AS t ON l.track_id = t.track_id "
        "JOIN genre AS g ON t.genre_id = g.genre_id GROUP BY g.name ORDER BY sold DESC LIMIT 5",
        "order_limit",
    ),
    Test(
        "Which billing city brought in the most revenue?",
        "SELECT billing_city FROM invoice GROUP BY billing_city ORDER BY SUM(total) DESC LIMIT 1",
        "order_limit",
    ),
    Test(
        "Who is the most recently hired employee?",
        "SELECT first_name, last_name FROM employee ORDER BY hire_date DESC LIMIT 1",
        "order_limit",
    ),
    Test(
        "Which album has the most tracks? Give the title and the number of tracks.",
        "SELECT al.title, COUNT(*) AS tracks FROM album AS al JOIN track AS t ON al.album_id = t.album_id "
        "GROUP BY al.album_id, al.title ORDER BY tracks DESC LIMIT 1",
        "order_limit",
    ),
    # --- date ---------------------------------------------------------------------------------------------------
    Test(
        "How many tracks were sold in 2009?",
        "SELECT SUM(l.quantity) FROM invoice_line AS l JOIN invoice AS i ON l.invoice_id = i.invoice_id "
        "WHERE i.invoice_date >= DATE '2009-01-01' AND i.invoice_date < DATE '2010-01-01'",
        "date",
    ),
    Test(
        "What was the revenue of each year? List year and revenue in year order.",
        "SELECT YEAR(invoice_date) AS year, SUM(total) FROM invoice GROUP BY year ORDER BY year",
        "date",
    ),
    Test(
        "How much revenue did the store make in March 2010?",
        "SELECT SUM(total) FROM invoice WHERE invoice_date >= DATE '2010-03-01' AND invoice_date < DATE '2010-04-01'",
        "date",
    ),
    Test(
        "How many invoices were issued in each month of 2011? List the month number and the count by month.",
        "SELECT MONTH(invoice_date) AS month, COUNT(*) FROM invoice "
        "WHERE invoice_date >= DATE '2011-01-01' AND invoice_date < DATE '2012-01-01' GROUP BY month ORDER BY month",
        "date",
    ),
    Test(
        "Which employees were hired in 2003?",
        "SELECT first_name, last_name FROM employee "
        "WHERE hire_date >= DATE '2003-01-01' AND hire_date < DATE '2004-01-01'",
        "date",
    ),
    Test(
        "List the invoices issued from June 1 to June 15, 2008: invoice id, date and total.",
        "SELECT invoice_id, invoice_date, total FROM invoice "
        "WHERE invoice_date BETWEEN DATE '2008-06-01' AND DATE '2008-06-15'",
        "date",
    ),
    Test(
        "Which employees were born before 1960?",
        "SELECT first_name, last_name FROM employee WHERE birth_date < DATE '1960-01-01'",
        "date",
    ),
    Test(
        "Which month of 2009 had the highest sales? Give the month number.",
        "SELECT MONTH(invoice_date) AS month FROM invoice "
        "WHERE invoice_date >= DATE '2009-01-01' AND invoice_date < DATE '2010-01-01' "
        "GROUP BY month ORDER BY SUM(total) DESC LIMIT 1",
        "date",
    ),
    Test(
        "How many different customers made a purchase in the second half of 2010?",
        "SELECT COUNT(DISTINCT customer_id) FROM invoice "
        "WHERE invoice_date >= DATE '2010-07-01' AND invoice_date < DATE '2011-01-01'",
        "date",
    ),
    # --- ratio --------------------------------------------------------------------------------------------------
    Test(
        "What percentage of all tracks are video tracks?",
        f"SELECT 100.0 * COUNT(*) FILTER (WHERE m.name = {VIDEO}) / COUNT(*) FROM track AS t "
        "JOIN media_type AS m ON t.media_type_id = m.media_type_id",
        "ratio",
    ),
    Test(
        "What percentage of total sales was billed to the USA?",
        "SELECT 100.0 * SUM(total) FILTER (WHERE billing_country = 'USA') / SUM(total) FROM invoice",
        "ratio",
    ),
    Test(
        "What percentage of customers buy for a company?",
        "SELECT 100.0 * COUNT(company) / COUNT(*) FROM customer",
        "ratio",
    ),
    Test(
        "What percentage of all invoice lines are for Rock tracks?",
        "SELECT 100.0 * COUNT(*) FILTER (WHERE g.name = 'Rock') / COUNT(*) FROM invoice_line AS l "
        "JOIN track AS t ON l.track_id = t.track_id JOIN genre AS g ON t.genre_id = g.genre_id",
        "ratio",
    ),
    Test(
        "On average, how many lines does an invoice have?",
        "SELECT COUNT(*) * 1.0 / COUNT(DISTINCT invoice_id) FROM invoice_line",
        "ratio",
    ),
    Test(
        "What share of all customers, in percent, does each support rep handle? Show the rep's first and last name.",
        "SELECT e.first_name, e.last_name, 100.0 * COUNT(*) / (SELECT COUNT(*) FROM customer) "
        "FROM customer AS c JOIN employee AS e ON c.support_rep_id = e.employee_id "
        "GROUP BY e.employee_id, e.first_name, e.last_name",
        "ratio",
    ),
    Test(
        "What percentage of the 2010 revenue came from video tracks?",
        f"SELECT 100.0 * SUM(l.unit_price * l.quantity) FILTER (WHERE m.name = {VIDEO}) "
        "/ SUM(l.unit_price * l.quantity) FROM invoice AS i JOIN invoice_line AS l ON i.invoice_id = l.invoice_id "
        "JOIN track AS t ON l.track_id = t.track_id JOIN media_type AS m ON t.media_type_id = m.media_type_id "
        "WHERE i.invoice_date >= DATE '2010-01-01' AND i.invoice_date < DATE '2011-01-01'",
        "ratio",
    ),
    # --- nested -------------------------------------------------------------------------------------------------
    Test(
        "How many tracks are longer than the average track?",
        "SELECT COUNT(*) FROM track WHERE milliseconds > (SELECT AVG(milliseconds) FROM track)",
        "nested",
    ),
    Test(
        "How many artists have no album in the catalogue?",
        "SELECT COUNT(*) FROM artist WHERE artist_id NOT IN (SELECT artist_id FROM album)",
        "nested",
    ),
    Test(
        "How many tracks have never been sold?",
        "SELECT COUNT(*) FROM track WHERE track_id NOT IN (SELECT track_id FROM invoice_line)",
        "nested",
    ),
    Test(
        "Which customers have spent more than the average customer? Give their first and last names.",
        "SELECT c.first_name, c.last_name FROM customer AS c JOIN invoice AS i ON c.customer_id = i.customer_id "
        "GROUP BY c.customer_id, c.first_name, c.last_name HAVING SUM(i.total) > "
        "(SELECT AVG(spent) FROM (SELECT SUM(total) AS spent FROM invoice GROUP BY customer_id) AS per_customer)",
        "nested",
    ),
    Test(
        "Which other customers have the same support rep as Frank Harris?",
        "SELECT first_name, last_name FROM customer WHERE support_rep_id = "
        "(SELECT support_rep_id FROM customer WHERE first_name = 'Frank' AND last_name = 'Harris') "
        "AND NOT (first_name = 'Frank' AND last_name = 'Harris')",
        "nested",
    ),
    Test(
        "What is the name of the longest Jazz track?",
        "SELECT t.name FROM track AS t JOIN genre AS g ON t.genre_id = g.genre_id WHERE g.name = 'Jazz' "
        "AND t.milliseconds = (SELECT MAX(t2.milliseconds) FROM track AS t2 "
        "JOIN genre AS g2 ON t2.genre_id = g2.genre_id WHERE g2.name = 'Jazz')",
        "nested",
    ),
    Test(
        "Which employees are the manager of at least one other employee?",
        "SELECT first_name, last_name FROM employee WHERE employee_id IN "
        "(SELECT reports_to FROM employee WHERE reports_to IS NOT NULL)",
        "nested",
    ),
    # --- having -------------------------------------------------------------------------------------------------
    Test(
        "Which artists have more than 10 albums?",
        "SELECT ar.name FROM artist AS ar JOIN album AS al ON ar.artist_id = al.artist_id "
        "GROUP BY ar.artist_id, ar.name HAVING COUNT(*) > 10",
        "having",
    ),
    Test(
        "Which countries have at least 5 customers?",
        "SELECT country FROM customer GROUP BY country HAVING COUNT(*) >= 5",
        "having",
    ),
    Test(
        "Which customers have spent more than 45 dollars in total? Give first and last names.",
        "SELECT c.first_name, c.last_name FROM customer AS c JOIN invoice AS i ON c.customer_id = i.customer_id "
        "GROUP BY c.customer_id, c.first_name, c.last_name HAVING SUM(i.total) > 45",
        "having",
    ),
    Test(
        "Which genres have more than 100 tracks?",
        "SELECT g.name FROM genre AS g JOIN track AS t ON g.genre_id = t.genre_id "
        "GROUP BY g.genre_id, g.name HAVING COUNT(*) > 100",
        "having",
    ),
    Test(
        "Which albums have more than 25 tracks? Show the title and the number of tracks.",
        "SELECT al.title, COUNT(*) FROM album AS al JOIN track AS t ON al.album_id = t.album_id "
        "GROUP BY al.album_id, al.title HAVING COUNT(*) > 25",
        "having",
    ),
    Test(
        "Which playlists hold more than 500 tracks? Give the playlist id and name.",
        "SELECT p.playlist_id, p.name FROM playlist AS p JOIN playlist_track AS pt ON p.playlist_id = pt.playlist_id "
        "GROUP BY p.playlist_id, p.name HAVING COUNT(*) > 500",
        "having",
    ),
    # --- distinct -----------------------------------------------------------------------------------------------
    Test(
        "How many different countries do the customers come from?",
        "SELECT COUNT(DISTINCT country) FROM customer",
        "distinct",
    ),
    Test(
        "How many distinct customers have bought at least one Jazz track?",
        "SELECT COUNT(DISTINCT i.customer_id) FROM invoice AS i JOIN invoice_line AS l ON i.invoice_id = l.invoice_id "
        "JOIN track AS t ON l.track_id = t.track_id JOIN genre AS g ON t.genre_id = g.genre_id WHERE g.name = 'Jazz'",
        "distinct",
    ),
    Test(
        "How many different artists are featured on the Grunge playlist?",
        "SELECT COUNT(DISTINCT al.artist_id) FROM playlist AS p "
        "JOIN playlist_track AS pt ON p.playlist_id = pt.playlist_id JOIN track AS t ON pt.track_id = t.track_id "
        "JOIN album AS al ON t.album_id = al.album_id WHERE p.name = 'Grunge'",
        "distinct",
    ),
    Test(
        "In how many different cities do the employees live?",
        "SELECT COUNT(DISTINCT city) FROM employee",
        "distinct",
    ),
    Test(
        "How many distinct composers are credited on tracks?",
        "SELECT COUNT(DISTINCT composer) FROM track",
        "distinct",
    ),
    Test(
        "To which countries were invoices billed in 2011? List each country once.",
        "SELECT DISTINCT billing_country FROM invoice "
        "WHERE invoice_date >= DATE '2011-01-01' AND invoice_date < DATE '2012-01-01'",
        "distinct",
    ),
)


def check_deterministic(con: duckdb.DuckDBPyConnection, item: dict[str, Any]) -> None:
    """Fail if an outer ORDER BY leaves the order of the answer open: two of its rows (with the next one past a
    LIMIT) share the ordering keys. A top-k answer would then depend on the engine's order among ties."""
    tree = sqlglot.parse_one(item["sql"], read="duckdb")
    order = tree.args.get("order")
    if order is None:
        return
    probe = tree.copy()
    probe.set("order", None)
    probe.set("limit", None)
    keys = [key.this.copy() for key in order.expressions]
    if any(isinstance(key, exp.Literal) for key in keys):
        raise ValueError(f"positional ORDER BY in {item['sql']}")
    probe = probe.select(*(exp.alias_(key, f"_order_key_{i}") for i, key in enumerate(keys)), copy=False)
    limit = tree.args.get("limit")
    ordered = probe.order_by(*(k.copy() for k in order.expressions), copy=False)
    if limit is not None:
        ordered = ordered.limit(int(limit.expression.name) + 1, copy=False)
    rows = con.execute(ordered.sql(dialect="duckdb")).fetchall()
    tails = [row[-len(keys) :] for row in rows]
    if len(set(tails)) != len(tails):
        raise ValueError(f"ties on the ORDER BY keys, so the answer's rows or order are not fixed: {item['sql']}")
