"""Districts, neighbourhoods and well-known venues of the four largest Dutch cities.

deduce knows municipalities, towns, provinces and streets, but not the districts and
neighbourhoods inside a city: in real interviews "Prins Alexander" was taken for a person,
"Kralingen" and "Feijenoord" were kept while street names were replaced, and the "Van Nelle
Fabriek" became ``[PERSOON-n]``. No offline list of CBS wijk/buurt names is installed (deduce's
location lists hold places, provinces, regions and streets only), so this module holds a curated
list, used by :mod:`pipeline.export.pseudonymise` as one more docdeid annotator. Every name here
is a place (``[LOCATIE-n]``); all of them are replaced, or all kept, as configured
(``wijken:`` in ``pseudonimisering.yaml``, see ``docs/pseudonimisering.md``). Researchers add
their own with ``extra_wijken:`` in that file.

Sources: the official districts (stadsdelen, gebieden) and the best-known neighbourhoods (wijken)
of Amsterdam, Rotterdam, Den Haag and Utrecht as the municipalities name them, and a few venues
and landmarks that place an interview in one city.

Left out on purpose, because they are ordinary words or compass directions that would be
replaced everywhere: Centrum, Binnenstad, Noord, Oost, Zuid, West, Noordoost, Noordwest,
Zuidwest, Cool, Plantage, Wallen (alone), Tuindorp (alone), Dam, Het Park.

Matching (see :class:`pipeline.export.pseudonymise.TermMatcher`): whole words, the capitals as
written (an interfix or leading article such as "van", "de" or "het" in any case), words joined
by a space, a hyphen or an underscore ("Kralingen-Crooswijk", "Kralingen Crooswijk").
"""

from __future__ import annotations

ROTTERDAM: tuple[str, ...] = (
    "Delfshaven", "Bospolder", "Tussendijken", "Bospolder-Tussendijken", "Spangen",
    "Nieuwe Westen", "Middelland", "Oud-Mathenesse", "Nieuw-Mathenesse", "Witte Dorp",
    "Schiemond", "Coolhaven", "Overschie", "Kleinpolder", "Hillegersberg", "Schiebroek",
    "Hillegersberg-Schiebroek", "Kralingen", "Crooswijk", "Kralingen-Crooswijk", "Rubroek",
    "Struisenburg", "De Esch", "Prins Alexander", "Ommoord", "Zevenkamp", "Nesselande",
    "Het Lage Land", "Prinsenland", "Oosterflank", "Feijenoord", "Kop van Zuid", "Katendrecht",
    "Afrikaanderwijk", "Bloemhof", "Hillesluis", "Vreewijk", "Noordereiland", "IJsselmonde",
    "Groot-IJsselmonde", "Lombardijen", "Beverwaard", "Charlois", "Oud-Charlois", "Tarwewijk",
    "Carnisse", "Zuidwijk", "Pendrecht", "Wielewaal", "Heijplaat", "Hoogvliet", "Pernis",
    "Rozenburg", "Hoek van Holland", "Blijdorp", "Bergpolder", "Liskwartier", "Agniesebuurt",
    "Oude Noorden", "Provenierswijk", "Stadsdriehoek", "Oude Westen", "Dijkzigt",
    "Scheepvaartkwartier", "Lloydkwartier", "Zuidplein",
)

AMSTERDAM: tuple[str, ...] = (
    "Nieuw-West", "Zuidoost", "Weesp", "Jordaan", "De Pijp", "Oud-West", "Oud-Zuid", "Oud-Oost",
    "Bos en Lommer", "De Baarsjes", "Osdorp", "Slotervaart", "Geuzenveld", "Slotermeer",
    "Geuzenveld-Slotermeer", "Bijlmer", "Bijlmermeer", "Gaasperdam", "Watergraafsmeer",
    "Indische Buurt", "Dapperbuurt", "Transvaalbuurt", "Oosterparkbuurt", "IJburg", "Zeeburg",
    "Zeeburgereiland", "Buitenveldert", "Rivierenbuurt", "Stadionbuurt", "Apollobuurt",
    "Museumkwartier", "Vondelbuurt", "Westerpark", "Spaarndammerbuurt", "Staatsliedenbuurt",
    "Kinkerbuurt", "Oostelijk Havengebied", "Grachtengordel", "Nieuwmarkt", "De Wallen",
    "Zeeheldenbuurt", "Overhoeks", "Buikslotermeer", "Nieuwendam", "Tuindorp Oostzaan",
    "Banne Buiksloot", "Holendrecht", "Reigersbos", "Ganzenhoef", "Kraaiennest", "Venserpolder",
    "Sloterdijk", "De Aker", "Nieuw Sloten", "Zuidas", "Frankendael", "Middenmeer",
    "Betondorp", "Kattenburg", "Wittenburg", "Oostenburg", "Java-eiland", "KNSM-eiland",
    "Borneo-eiland", "Houthavens", "Landlust", "Hoofddorppleinbuurt", "Schinkelbuurt",
    "Willemspark",
)

DEN_HAAG: tuple[str, ...] = (
    "Escamp", "Haagse Hout", "Laak", "Leidschenveen-Ypenburg", "Loosduinen", "Scheveningen",
    "Segbroek", "Schilderswijk", "Transvaalkwartier", "Duindorp", "Moerwijk", "Morgenstond",
    "Bouwlust", "Vrederust", "Mariahoeve", "Bezuidenhout", "Benoordenhout", "Archipelbuurt",
    "Statenkwartier", "Duinoord", "Zeeheldenkwartier", "Regentessekwartier",
    "Valkenboskwartier", "Bomen- en Bloemenbuurt", "Vogelwijk", "Waldeck", "Kijkduin",
    "Rustenburg", "Oostbroek", "Leyenburg", "Spoorwijk", "Stationsbuurt", "Zuiderpark",
    "Wateringse Veld", "Ypenburg", "Leidschenveen", "Kraayenstein", "Houtwijk", "Bohemen",
    "Belgisch Park", "Westbroekpark", "Laakkwartier", "Schildersbuurt", "Erasmusveld",
    "Zorgvliet",
)

UTRECHT: tuple[str, ...] = (
    "Overvecht", "Leidsche Rijn", "Vleuten-De Meern", "Vleuten", "De Meern", "Lombok",
    "Zuilen", "Kanaleneiland", "Hoograven", "Tolsteeg", "Lunetten", "Wittevrouwen", "Tuinwijk",
    "Ondiep", "Pijlsweerd", "Oog in Al", "Dichterswijk", "Rivierenwijk", "Transwijk",
    "Terwijde", "Parkwijk", "Langerak", "Veldhuizen", "Haarzuilens", "Elinkwijk",
    "Queeckhoven", "Voordorp", "Abstede", "Oudwijk", "Wilhelminapark", "Rijnsweerd",
    "Galgenwaard", "Halve Maan", "Votulast",
)

#: Venues and landmarks that place an interview in one city (treated like the districts).
VENUES: tuple[str, ...] = (
    # Rotterdam
    "Van Nelle Fabriek", "Van Nellefabriek", "De Doelen", "Ahoy", "De Kuip", "Markthal",
    "Euromast", "Erasmusbrug", "Kralingse Bos", "Schouwburgplein", "Binnenrotte", "Kunsthal",
    "Maassilo", "Hotel New York", "Depot Boijmans Van Beuningen", "Luchtsingel",
    # Amsterdam
    "Concertgebouw", "Paradiso", "Melkweg", "Ziggo Dome", "Johan Cruijff ArenA",
    "Beurs van Berlage", "Rijksmuseum", "Vondelpark", "Eye Filmmuseum",
    # Den Haag
    "Binnenhof", "Malieveld", "Kurhaus", "Vredespaleis", "Catshuis", "World Forum",
    # Utrecht
    "Jaarbeurs", "TivoliVredenburg", "Domplein", "Domtoren", "Hoog Catharijne", "Griftpark",
)

#: Every built-in district, neighbourhood and venue, in this order, without duplicates.
DISTRICTS: tuple[str, ...] = tuple(dict.fromkeys(ROTTERDAM + AMSTERDAM + DEN_HAAG + UTRECHT
                                                 + VENUES))
