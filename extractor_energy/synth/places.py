"""Per-state facts for addresses and taxes: a few real cities with their CEP ranges, ICMS, voltage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    """What a bill from one UF needs: cities (name, first and last 5-digit CEP prefix), ICMS %, voltage."""

    cities: tuple[tuple[str, int, int], ...]
    icms: float
    low_voltage: str  # "127/220" or "220/380"


STATES: dict[str, State] = {
    "AC": State((("RIO BRANCO", 69900, 69924), ("CRUZEIRO DO SUL", 69980, 69981)), 19.0, "127/220"),
    "AL": State((("MACEIÓ", 57000, 57099), ("ARAPIRACA", 57300, 57319), ("PALMEIRA DOS ÍNDIOS", 57600, 57609)), 20.0, "220/380"),
    "AM": State((("MANAUS", 69000, 69099), ("PARINTINS", 69150, 69159)), 20.0, "127/220"),
    "AP": State((("MACAPÁ", 68900, 68914), ("SANTANA", 68925, 68929)), 18.0, "127/220"),
    "BA": State((("SALVADOR", 40000, 42499), ("FEIRA DE SANTANA", 44000, 44099), ("VITÓRIA DA CONQUISTA", 45000, 45099)), 20.5, "220/380"),
    "CE": State((("FORTALEZA", 60000, 61599), ("JUAZEIRO DO NORTE", 63000, 63059), ("SOBRAL", 62000, 62119)), 20.0, "220/380"),
    "DF": State((("BRASÍLIA", 70000, 72799),), 20.0, "220/380"),
    "ES": State((("VITÓRIA", 29000, 29099), ("VILA VELHA", 29100, 29129), ("SERRA", 29160, 29184)), 17.0, "127/220"),
    "GO": State((("GOIÂNIA", 74000, 74894), ("APARECIDA DE GOIÂNIA", 74900, 74999), ("ANÁPOLIS", 75000, 75159), ("RIO VERDE", 75900, 75909)), 19.0, "220/380"),
    "MA": State((("SÃO LUÍS", 65000, 65109), ("IMPERATRIZ", 65900, 65919), ("CAXIAS", 65600, 65609)), 23.0, "220/380"),
    "MG": State((("BELO HORIZONTE", 30000, 31999), ("UBERLÂNDIA", 38400, 38415), ("CONTAGEM", 32000, 32399), ("JUIZ DE FORA", 36000, 36099)), 18.0, "127/220"),
    "MS": State((("CAMPO GRANDE", 79000, 79129), ("DOURADOS", 79800, 79849)), 17.0, "127/220"),
    "MT": State((("CUIABÁ", 78000, 78109), ("VÁRZEA GRANDE", 78110, 78159), ("RONDONÓPOLIS", 78700, 78749)), 17.0, "127/220"),
    "PA": State((("BELÉM", 66000, 66999), ("ANANINDEUA", 67000, 67199), ("SANTARÉM", 68000, 68109)), 19.0, "127/220"),
    "PB": State((("JOÃO PESSOA", 58000, 58099), ("CAMPINA GRANDE", 58400, 58445)), 20.0, "220/380"),
    "PE": State((("RECIFE", 50000, 52999), ("JABOATÃO DOS GUARARAPES", 54000, 54499), ("CARUARU", 55000, 55099)), 20.5, "220/380"),
    "PI": State((("TERESINA", 64000, 64099), ("PARNAÍBA", 64200, 64219)), 22.5, "220/380"),
    "PR": State((("CURITIBA", 80000, 82999), ("LONDRINA", 86000, 86099), ("MARINGÁ", 87000, 87099)), 19.5, "127/220"),
    "RJ": State((("RIO DE JANEIRO", 20000, 23799), ("NITERÓI", 24000, 24399), ("DUQUE DE CAXIAS", 25000, 25299), ("NOVA IGUAÇU", 26000, 26099)), 20.0, "127/220"),
    "RN": State((("NATAL", 59000, 59161), ("MOSSORÓ", 59600, 59649)), 20.0, "220/380"),
    "RO": State((("PORTO VELHO", 76800, 76834), ("JI-PARANÁ", 76900, 76914)), 19.5, "127/220"),
    "RR": State((("BOA VISTA", 69300, 69339),), 20.0, "127/220"),
    "RS": State((("PORTO ALEGRE", 90000, 91999), ("CAXIAS DO SUL", 95000, 95124), ("PELOTAS", 96000, 96099)), 17.0, "127/220"),
    "SC": State((("FLORIANÓPOLIS", 88000, 88099), ("JOINVILLE", 89200, 89239), ("BLUMENAU", 89000, 89099)), 17.0, "220/380"),
    "SE": State((("ARACAJU", 49000, 49099), ("LAGARTO", 49400, 49409)), 19.0, "220/380"),
    "SP": State((("SÃO PAULO", 1000, 5999), ("CAMPINAS", 13000, 13139), ("RIBEIRÃO PRETO", 14000, 14109), ("SOROCABA", 18000, 18109)), 18.0, "127/220"),
    "TO": State((("PALMAS", 77000, 77249), ("ARAGUAÍNA", 77800, 77829)), 20.0, "127/220"),
}
