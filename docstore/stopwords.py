"""Stop words per language (ISO 639-1): short lists of function words only (articles, pronouns,
prepositions, conjunctions, auxiliaries), so that no word that could carry a topic is dropped.
They are left out of the stemmed field only: the exact field keeps every word, which is what a
query made only of stop words ("to be or not to be") is searched on."""

from __future__ import annotations

_LISTS = {
    "en": "a an and are as at be but by for if in into is it no not of on or such that the their then there"
    " these they this to was will with",
    "de": "aber als am an auch auf aus bei bin bis bist da dann das dass dem den der des die dies diese dieser"
    " dieses doch dort du durch ein eine einem einen einer eines er es für hat hatte ich ihr im in ist ja"
    " kann mit nach nicht noch nur ob oder sein sich sie sind so über um und uns von vor war wie wir wird"
    " zu zum zur",
    "fr": "à au aux avec ce ces dans de des du elle en est et eux il ils je la le les leur lui ma mais me"
    " même mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi"
    " ton tu un une vos votre vous y été être",
    "es": "a al algo como con de del donde el ella ellos en entre era es esa ese esta este esto fue ha han"
    " la las le les lo los más me mi muy no nos o para pero por que se sin sobre su sus también te un una"
    " uno y ya",
    "it": "a ad al alla alle allo anche che chi ci come con da dal dalla degli dei del della delle di e è"
    " gli ha i il in io la le lo ma ne nei nel nella non o per più questo quello se si sono su sua suo"
    " tra un una uno",
    "nl": "aan al als bij dan dat de der deze die dit door een en er had heb het hij hoe hun ik in is je"
    " kan maar me met mij na naar niet nog of om onder ook op over te tot u uit van veel voor was wat we"
    " wel werd wie wij worden zal ze zich zij zijn",
    "pt": "a ao aos as com como da das de do dos e é ela ele eles em entre era essa esse esta este eu foi"
    " há isso já lhe mais mas me mesmo muito na nas não no nos o os ou para pela pelo por que se sem"
    " ser seu sua são também um uma",
    "ru": "а без бы был была были было в вам вас во вот все всё вы где да для до его ее её если есть же"
    " за и из или им их к как ко когда кто ли между мне мы на над не него нет ни но о об он она они"
    " оно от по под при с со так также то только том ты у уже что чтобы эта это этот я",
    "sv": "att av de den det denna där du efter en ett för från han har hon i inte jag kan man med men"
    " mot och om på sig som så till under var vi vid är",
    "da": "af at blev de den der det dig du efter eller en er et for fra har han hun i ikke jeg kan med"
    " men mig og om på sig som til var vi være",
    "no": "av at de den der det du eller en er et for fra han har hun i ikke jeg kan med men og om på seg"
    " som til var vi være",
}

STOP_WORDS: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in _LISTS.items()}
