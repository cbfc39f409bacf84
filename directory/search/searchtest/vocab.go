package searchtest

// country is where coops of a language are, with its regions and cities.
type country struct {
	code    string
	regions []string
	cities  []string
}

var countries = map[string][]country{
	"en": {
		{"US", []string{"California", "New York", "Massachusetts", "Oregon", "Texas", "Illinois", "Minnesota", "North Carolina"}, []string{"Oakland", "Brooklyn", "Boston", "Portland", "Austin", "Chicago", "Minneapolis", "Durham"}},
		{"GB", []string{"England", "Scotland", "Wales", "Northern Ireland"}, []string{"London", "Manchester", "Glasgow", "Cardiff", "Bristol", "Leeds"}},
		{"CA", []string{"Ontario", "British Columbia", "Quebec", "Nova Scotia"}, []string{"Toronto", "Vancouver", "Montreal", "Halifax"}},
		{"IE", []string{"Leinster", "Munster", "Connacht"}, []string{"Dublin", "Cork", "Galway"}},
		{"AU", []string{"New South Wales", "Victoria", "Queensland"}, []string{"Sydney", "Melbourne", "Brisbane"}},
	},
	"es": {
		{"ES", []string{"Cataluña", "Madrid", "Andalucía", "País Vasco", "Comunidad Valenciana", "Galicia", "Aragón"}, []string{"Barcelona", "Madrid", "Sevilla", "Bilbao", "Valencia", "Zaragoza", "Vigo"}},
		{"MX", []string{"Ciudad de México", "Jalisco", "Oaxaca", "Nuevo León", "Chiapas"}, []string{"Ciudad de México", "Guadalajara", "Oaxaca", "Monterrey", "San Cristóbal"}},
		{"AR", []string{"Buenos Aires", "Córdoba", "Santa Fe", "Mendoza"}, []string{"Buenos Aires", "Córdoba", "Rosario", "Mendoza"}},
		{"CO", []string{"Antioquia", "Bogotá", "Valle del Cauca"}, []string{"Medellín", "Bogotá", "Cali"}},
		{"CL", []string{"Región Metropolitana", "Valparaíso", "Biobío"}, []string{"Santiago", "Valparaíso", "Concepción"}},
	},
	"fr": {
		{"FR", []string{"Île-de-France", "Auvergne-Rhône-Alpes", "Occitanie", "Bretagne", "Nouvelle-Aquitaine", "Hauts-de-France"}, []string{"Paris", "Lyon", "Toulouse", "Rennes", "Bordeaux", "Lille", "Grenoble"}},
		{"BE", []string{"Wallonie", "Bruxelles"}, []string{"Liège", "Bruxelles", "Namur"}},
		{"CH", []string{"Genève", "Vaud"}, []string{"Genève", "Lausanne"}},
		{"CA", []string{"Québec"}, []string{"Montréal", "Québec"}},
	},
	"de": {
		{"DE", []string{"Berlin", "Bayern", "Nordrhein-Westfalen", "Hamburg", "Sachsen", "Baden-Württemberg"}, []string{"Berlin", "München", "Köln", "Hamburg", "Leipzig", "Freiburg"}},
		{"AT", []string{"Wien", "Steiermark", "Tirol"}, []string{"Wien", "Graz", "Innsbruck"}},
		{"CH", []string{"Zürich", "Bern", "Basel-Stadt"}, []string{"Zürich", "Bern", "Basel"}},
	},
	"pt": {
		{"BR", []string{"São Paulo", "Rio de Janeiro", "Minas Gerais", "Bahia", "Rio Grande do Sul", "Pernambuco"}, []string{"São Paulo", "Rio de Janeiro", "Belo Horizonte", "Salvador", "Porto Alegre", "Recife"}},
		{"PT", []string{"Lisboa", "Porto", "Alentejo"}, []string{"Lisboa", "Porto", "Évora"}},
	},
	"it": {
		{"IT", []string{"Emilia-Romagna", "Lombardia", "Toscana", "Lazio", "Piemonte", "Sicilia"}, []string{"Bologna", "Milano", "Firenze", "Roma", "Torino", "Palermo"}},
	},
}

// category is a kind of service: its tags, and per language its service
// titles (with a %s for a tag) and the work it involves.
type category struct {
	name   string
	tags   []string
	titles map[string][]string
	work   map[string][]string
}

var categories = []category{
	{"web-development",
		[]string{"wordpress", "drupal", "accessibility", "react", "php", "laravel", "django", "python", "woocommerce", "e-commerce", "seo", "multilingual sites", "static sites"},
		map[string][]string{
			"en": {"%s website development", "Custom %s themes", "%s site rebuilds", "Accessible websites with %s", "%s plugin development"},
			"es": {"Desarrollo web con %s", "Sitios accesibles con %s", "Temas a medida para %s", "Rediseño de sitios %s"},
			"fr": {"Développement de sites %s", "Sites accessibles avec %s", "Thèmes sur mesure %s", "Refonte de sites %s"},
			"de": {"Webentwicklung mit %s", "Barrierefreie Websites mit %s", "Individuelle %s Themes", "Relaunch von %s Websites"},
			"pt": {"Desenvolvimento de sites %s", "Sites acessíveis com %s", "Temas personalizados %s"},
			"it": {"Sviluppo di siti %s", "Siti accessibili con %s", "Temi personalizzati %s"},
		},
		map[string][]string{
			"en": {"website redesigns", "accessible forms", "donation pages", "event calendars", "multilingual content", "performance tuning"},
			"es": {"rediseños de sitios web", "formularios accesibles", "páginas de donación", "calendarios de eventos", "contenido multilingüe"},
			"fr": {"refontes de sites", "formulaires accessibles", "pages de dons", "agendas d'événements", "contenus multilingues"},
			"de": {"Website-Relaunches", "barrierefreie Formulare", "Spendenseiten", "Veranstaltungskalender", "mehrsprachige Inhalte"},
			"pt": {"redesenho de sites", "formulários acessíveis", "páginas de doação", "calendários de eventos"},
			"it": {"restyling di siti", "moduli accessibili", "pagine di donazione", "calendari di eventi"},
		}},
	{"hosting",
		[]string{"hosting", "nextcloud", "linux", "backup", "email hosting", "devops", "kubernetes", "mastodon", "matrix"},
		map[string][]string{
			"en": {"Managed %s", "%s hosting for nonprofits", "Secure %s servers", "%s maintenance plans"},
			"es": {"Alojamiento %s gestionado", "Servidores %s seguros", "Mantenimiento de %s"},
			"fr": {"Hébergement %s", "Serveurs %s sécurisés", "Infogérance %s"},
			"de": {"Verwaltetes %s Hosting", "Sichere %s Server", "%s Wartung"},
			"pt": {"Hospedagem %s gerenciada", "Servidores %s seguros", "Manutenção de %s"},
			"it": {"Hosting %s gestito", "Server %s sicuri", "Manutenzione %s"},
		},
		map[string][]string{
			"en": {"daily backups", "server monitoring", "email deliverability", "uptime guarantees", "migrations from big tech"},
			"es": {"copias de seguridad diarias", "monitorización de servidores", "entrega de correo", "migraciones desde grandes plataformas"},
			"fr": {"sauvegardes quotidiennes", "supervision des serveurs", "délivrabilité des courriels", "migrations hors des GAFAM"},
			"de": {"tägliche Backups", "Serverüberwachung", "E-Mail-Zustellbarkeit", "Migrationen weg von Big Tech"},
			"pt": {"backups diários", "monitoramento de servidores", "entrega de e-mails", "migrações de grandes plataformas"},
			"it": {"backup giornalieri", "monitoraggio dei server", "consegna delle email", "migrazioni dalle grandi piattaforme"},
		}},
	{"data-crm",
		[]string{"civicrm", "salesforce", "odoo", "data migration", "donor management", "crm", "reporting", "postgresql", "open data", "gis", "mailchimp"},
		map[string][]string{
			"en": {"%s implementation", "Data migration to %s", "%s consulting for nonprofits", "%s database cleanup", "%s integrations"},
			"es": {"Implementación de %s", "Migración de datos a %s", "Consultoría %s para organizaciones", "Limpieza de bases de datos %s"},
			"fr": {"Mise en place de %s", "Migration de données vers %s", "Conseil %s pour associations", "Nettoyage de bases %s"},
			"de": {"Einführung von %s", "Datenmigration nach %s", "%s Beratung für Vereine", "Bereinigung von %s Datenbanken"},
			"pt": {"Implementação de %s", "Migração de dados para %s", "Consultoria %s para organizações"},
			"it": {"Implementazione di %s", "Migrazione dei dati verso %s", "Consulenza %s per associazioni"},
		},
		map[string][]string{
			"en": {"contact deduplication", "membership renewals", "grant reporting", "donor journeys", "data migration from spreadsheets", "case management"},
			"es": {"deduplicación de contactos", "renovación de socios", "informes para subvenciones", "migración de datos desde hojas de cálculo"},
			"fr": {"dédoublonnage des contacts", "renouvellement des adhésions", "rapports de subventions", "migration de données depuis des tableurs"},
			"de": {"Dublettenbereinigung", "Mitgliederverwaltung", "Förderberichte", "Datenmigration aus Tabellen"},
			"pt": {"deduplicação de contatos", "renovação de associados", "relatórios de financiamento", "migração de dados de planilhas"},
			"it": {"deduplicazione dei contatti", "rinnovo dei soci", "rendicontazione dei bandi", "migrazione dei dati da fogli di calcolo"},
		}},
	{"design",
		[]string{"branding", "ux research", "illustration", "print design", "video", "photography", "social media", "visual identity"},
		map[string][]string{
			"en": {"%s for campaigns", "%s and visual identity", "%s workshops", "Annual report %s"},
			"es": {"%s para campañas", "Diseño de %s", "Talleres de %s"},
			"fr": {"%s pour campagnes", "Design %s", "Ateliers %s"},
			"de": {"%s für Kampagnen", "Gestaltung: %s", "%s Workshops"},
			"pt": {"%s para campanhas", "Design de %s", "Oficinas de %s"},
			"it": {"%s per campagne", "Progettazione %s", "Laboratori di %s"},
		},
		map[string][]string{
			"en": {"logos and style guides", "campaign visuals", "user interviews", "annual reports", "explainer videos"},
			"es": {"logotipos y guías de estilo", "piezas de campaña", "entrevistas con usuarias", "memorias anuales"},
			"fr": {"logos et chartes graphiques", "visuels de campagne", "entretiens utilisateurs", "rapports annuels"},
			"de": {"Logos und Styleguides", "Kampagnenmotive", "Nutzerinterviews", "Jahresberichte"},
			"pt": {"logotipos e guias de estilo", "peças de campanha", "entrevistas com usuários", "relatórios anuais"},
			"it": {"loghi e linee guida", "grafiche per campagne", "interviste agli utenti", "bilanci sociali"},
		}},
	{"it-support",
		[]string{"helpdesk", "hardware", "network", "linux", "office 365", "google workspace", "remote support", "printers"},
		map[string][]string{
			"en": {"%s support", "Remote %s help", "%s setup for small offices"},
			"es": {"Soporte de %s", "Asistencia remota %s", "Instalación de %s para oficinas"},
			"fr": {"Support %s", "Assistance à distance %s", "Installation %s pour petites structures"},
			"de": {"%s Support", "Fernwartung %s", "Einrichtung von %s für Büros"},
			"pt": {"Suporte de %s", "Assistência remota %s", "Instalação de %s para escritórios"},
			"it": {"Assistenza %s", "Supporto remoto %s", "Installazione %s per uffici"},
		},
		map[string][]string{
			"en": {"laptop refurbishing", "office networks", "password managers", "onboarding new staff"},
			"es": {"reacondicionamiento de portátiles", "redes de oficina", "gestores de contraseñas"},
			"fr": {"reconditionnement d'ordinateurs", "réseaux de bureau", "gestionnaires de mots de passe"},
			"de": {"Aufbereitung von Laptops", "Büronetzwerke", "Passwortmanager"},
			"pt": {"recondicionamento de notebooks", "redes de escritório", "gerenciadores de senhas"},
			"it": {"ricondizionamento di portatili", "reti d'ufficio", "gestori di password"},
		}},
	{"training",
		[]string{"training", "moodle", "digital skills", "workshops", "facilitation", "translation", "documentation"},
		map[string][]string{
			"en": {"%s for staff and volunteers", "%s courses", "Online %s"},
			"es": {"Formación en %s", "Cursos de %s", "%s en línea"},
			"fr": {"Formation %s", "Cours de %s", "%s en ligne"},
			"de": {"Schulungen zu %s", "%s Kurse", "Online %s"},
			"pt": {"Formação em %s", "Cursos de %s", "%s online"},
			"it": {"Formazione su %s", "Corsi di %s", "%s online"},
		},
		map[string][]string{
			"en": {"digital literacy", "train-the-trainer programs", "translation of materials", "volunteer onboarding"},
			"es": {"alfabetización digital", "formación de formadoras", "traducción de materiales"},
			"fr": {"culture numérique", "formation de formateurs", "traduction de supports"},
			"de": {"digitale Grundbildung", "Multiplikatorenschulungen", "Übersetzung von Materialien"},
			"pt": {"letramento digital", "formação de formadores", "tradução de materiais"},
			"it": {"alfabetizzazione digitale", "formazione dei formatori", "traduzione di materiali"},
		}},
	{"security",
		[]string{"security audit", "gdpr", "privacy", "encryption", "penetration testing", "digital security"},
		map[string][]string{
			"en": {"%s for activists", "%s reviews", "%s training"},
			"es": {"%s para activistas", "Revisión de %s", "Talleres de %s"},
			"fr": {"%s pour militants", "Audit %s", "Ateliers %s"},
			"de": {"%s für Aktivist*innen", "%s Prüfung", "%s Schulung"},
			"pt": {"%s para ativistas", "Revisão de %s", "Oficinas de %s"},
			"it": {"%s per attivisti", "Verifica %s", "Laboratori di %s"},
		},
		map[string][]string{
			"en": {"threat modelling", "secure messaging", "data protection policies", "incident response"},
			"es": {"modelado de amenazas", "mensajería segura", "políticas de protección de datos"},
			"fr": {"modélisation des menaces", "messagerie sécurisée", "politique de protection des données"},
			"de": {"Bedrohungsanalyse", "sichere Kommunikation", "Datenschutzrichtlinien"},
			"pt": {"modelagem de ameaças", "mensagens seguras", "políticas de proteção de dados"},
			"it": {"analisi delle minacce", "messaggistica sicura", "politiche di protezione dei dati"},
		}},
	{"strategy",
		[]string{"digital strategy", "fundraising", "email marketing", "campaigns", "impact measurement", "governance"},
		map[string][]string{
			"en": {"%s consulting", "%s planning", "%s for cooperatives"},
			"es": {"Consultoría de %s", "Planificación de %s", "%s para cooperativas"},
			"fr": {"Conseil en %s", "Accompagnement %s", "%s pour coopératives"},
			"de": {"%s Beratung", "Planung: %s", "%s für Genossenschaften"},
			"pt": {"Consultoria de %s", "Planejamento de %s", "%s para cooperativas"},
			"it": {"Consulenza %s", "Pianificazione %s", "%s per cooperative"},
		},
		map[string][]string{
			"en": {"theory of change", "fundraising plans", "email campaigns", "board retreats"},
			"es": {"teoría del cambio", "planes de captación de fondos", "campañas de correo"},
			"fr": {"théorie du changement", "plans de collecte de fonds", "campagnes d'emailing"},
			"de": {"Wirkungslogik", "Fundraising-Pläne", "E-Mail-Kampagnen"},
			"pt": {"teoria da mudança", "planos de captação de recursos", "campanhas de e-mail"},
			"it": {"teoria del cambiamento", "piani di raccolta fondi", "campagne email"},
		}},
	{"other",
		[]string{"translation", "accounting", "legal", "bookkeeping", "event production", "podcasts"},
		map[string][]string{
			"en": {"%s services", "%s for cooperatives", "Community %s"},
			"es": {"Servicios de %s", "%s para cooperativas", "%s comunitaria"},
			"fr": {"Services de %s", "%s pour coopératives", "%s solidaire"},
			"de": {"%s Dienstleistungen", "%s für Genossenschaften", "Gemeinschaftliche %s"},
			"pt": {"Serviços de %s", "%s para cooperativas", "%s comunitária"},
			"it": {"Servizi di %s", "%s per cooperative", "%s di comunità"},
		},
		map[string][]string{
			"en": {"translation and interpreting", "annual accounts", "cooperative bylaws", "community events"},
			"es": {"traducción e interpretación", "cuentas anuales", "estatutos cooperativos", "eventos comunitarios"},
			"fr": {"traduction et interprétation", "comptes annuels", "statuts coopératifs", "événements associatifs"},
			"de": {"Übersetzung und Dolmetschen", "Jahresabschlüsse", "Genossenschaftssatzungen", "Gemeinschaftsveranstaltungen"},
			"pt": {"tradução e interpretação", "contas anuais", "estatutos cooperativos", "eventos comunitários"},
			"it": {"traduzione e interpretariato", "bilanci annuali", "statuti cooperativi", "eventi di comunità"},
		}},
}

// langTexts are the sentence templates of one language.
type langTexts struct {
	names     []string // two %s for name words
	nameWords []string
	summaries []string // %s: audience, tag, tag
	audiences []string
	sentences []string // %s: tag, audience, work
	project   string   // %s: a project's name
}

var texts = map[string]langTexts{
	"en": {
		project:   "Recent work includes the %s project.",
		names:     []string{"%s %s Cooperative", "%s %s Co-op", "%s %s Collective", "%s %s Workers' Cooperative", "The %s %s Co-operative"},
		nameWords: []string{"Open", "Common", "Green", "Digital", "Solidarity", "Bright", "Harbor", "Maple", "Cedar", "River", "Circuit", "Commons", "Pixel", "Lantern", "Tidal", "Union", "Hive", "Loom", "Signal", "Garden"},
		summaries: []string{
			"A worker-owned cooperative helping %s with %s and %s.",
			"We are a small tech co-op serving %s: %s, %s and everything around them.",
			"Democratically run studio supporting %s through %s and %s since our founding.",
		},
		audiences: []string{"nonprofits", "charities", "community groups", "unions", "cooperatives", "social enterprises", "foundations", "grassroots organizations"},
		sentences: []string{
			"We have years of experience with %s for %s, including %s.",
			"Our team delivers %s projects for %s and takes care of %s.",
			"Ideal for %s: we plan, build and support %s for %s.",
			"Pricing is transparent, and %s work for %s always includes %s.",
		},
	},
	"es": {
		project:   "Entre nuestros trabajos recientes está el proyecto %s.",
		names:     []string{"Cooperativa %s %s", "Cooperativa de Trabajo %s %s", "Colectivo %s %s", "%s %s Coop"},
		nameWords: []string{"Tejido", "Digital", "Libre", "Común", "Semilla", "Raíz", "Código", "Faro", "Colmena", "Puente", "Solidaria", "Abierta", "Telar", "Nube", "Río"},
		summaries: []string{
			"Cooperativa de trabajo que acompaña a %s con %s y %s.",
			"Somos una cooperativa tecnológica al servicio de %s: %s, %s y más.",
			"Ayudamos a %s con %s y %s desde una gestión democrática.",
		},
		audiences: []string{"organizaciones sociales", "ONG", "sindicatos", "cooperativas", "fundaciones", "asociaciones vecinales", "colectivos feministas"},
		sentences: []string{
			"Tenemos experiencia en %s para %s, incluida la %s.",
			"Nuestro equipo realiza proyectos de %s para %s y se ocupa de %s.",
			"Ideal para %s: planificamos y mantenemos %s con %s.",
			"Precios claros: el trabajo de %s para %s incluye siempre %s.",
		},
	},
	"fr": {
		project:   "Parmi nos réalisations récentes : le projet %s.",
		names:     []string{"Coopérative %s %s", "SCOP %s %s", "SCIC %s %s", "Collectif %s %s"},
		nameWords: []string{"Libre", "Commun", "Numérique", "Solidaire", "Ruche", "Tisserand", "Phare", "Racine", "Atelier", "Pont", "Ouvert", "Hirondelle", "Source"},
		summaries: []string{
			"Coopérative de travail qui accompagne %s en %s et %s.",
			"Nous sommes une SCOP numérique au service des %s : %s, %s et plus.",
			"Nous aidons les %s avec %s et %s, en gouvernance partagée.",
		},
		audiences: []string{"associations", "ONG", "syndicats", "coopératives", "fondations", "collectifs citoyens", "tiers-lieux"},
		sentences: []string{
			"Nous avons une longue expérience de %s pour les %s, y compris %s.",
			"Notre équipe réalise des projets %s pour les %s et prend en charge %s.",
			"Idéal pour les %s : nous concevons et maintenons %s avec %s.",
			"Tarifs transparents : le travail %s pour les %s inclut toujours %s.",
		},
	},
	"de": {
		project:   "Zuletzt haben wir das Projekt %s begleitet.",
		names:     []string{"%s %s eG", "Genossenschaft %s %s", "%s %s Kollektiv"},
		nameWords: []string{"Offene", "Gemeinsam", "Digital", "Solidarisch", "Bienenstock", "Webstuhl", "Leuchtturm", "Wurzel", "Werkstatt", "Brücke", "Quelle", "Netzwerk"},
		summaries: []string{
			"Eine Genossenschaft in Belegschaftshand, die %s bei %s und %s unterstützt.",
			"Wir sind eine Tech-Genossenschaft für %s: %s, %s und mehr.",
			"Wir helfen %s mit %s und %s, demokratisch organisiert.",
		},
		audiences: []string{"gemeinnützige Vereine", "Stiftungen", "Gewerkschaften", "Genossenschaften", "Initiativen", "Sozialunternehmen"},
		sentences: []string{
			"Wir haben langjährige Erfahrung mit %s für %s, einschließlich %s.",
			"Unser Team setzt %s Projekte für %s um und kümmert sich um %s.",
			"Ideal für %s: wir planen und betreuen %s mit %s.",
			"Faire Preise: %s Arbeit für %s umfasst immer %s.",
		},
	},
	"pt": {
		project:   "Entre nossos trabalhos recentes está o projeto %s.",
		names:     []string{"Cooperativa %s %s", "Coletivo %s %s", "%s %s Coop"},
		nameWords: []string{"Tecido", "Digital", "Livre", "Comum", "Semente", "Raiz", "Código", "Farol", "Colmeia", "Ponte", "Solidária", "Aberta", "Rio"},
		summaries: []string{
			"Cooperativa de trabalho que apoia %s com %s e %s.",
			"Somos uma cooperativa de tecnologia a serviço de %s: %s, %s e mais.",
			"Ajudamos %s com %s e %s, com gestão democrática.",
		},
		audiences: []string{"organizações sociais", "ONGs", "sindicatos", "cooperativas", "fundações", "movimentos sociais", "associações de bairro"},
		sentences: []string{
			"Temos experiência em %s para %s, incluindo %s.",
			"Nossa equipe realiza projetos de %s para %s e cuida de %s.",
			"Ideal para %s: planejamos e mantemos %s com %s.",
			"Preços transparentes: o trabalho de %s para %s inclui sempre %s.",
		},
	},
	"it": {
		project:   "Tra i lavori recenti c'è il progetto %s.",
		names:     []string{"Cooperativa %s %s", "Cooperativa Sociale %s %s", "Collettivo %s %s"},
		nameWords: []string{"Libera", "Comune", "Digitale", "Solidale", "Alveare", "Telaio", "Faro", "Radice", "Officina", "Ponte", "Aperta", "Sorgente"},
		summaries: []string{
			"Cooperativa di lavoro che affianca %s con %s e %s.",
			"Siamo una cooperativa tecnologica al servizio di %s: %s, %s e altro.",
			"Aiutiamo %s con %s e %s, con una gestione democratica.",
		},
		audiences: []string{"associazioni", "ONG", "sindacati", "cooperative", "fondazioni", "enti del terzo settore"},
		sentences: []string{
			"Abbiamo esperienza di %s per %s, compresa la %s.",
			"Il nostro team realizza progetti di %s per %s e si occupa di %s.",
			"Ideale per %s: progettiamo e manteniamo %s con %s.",
			"Prezzi trasparenti: il lavoro di %s per %s include sempre %s.",
		},
	},
}

// queryWords are what people type into the directory's search box, per
// category, in the same languages.
var queryWords = map[string][]string{
	"web-development": {"wordpress", "drupal", "website", "websites", "accessibility", "accessible", "react", "woocommerce", "seo", "sitios", "web", "accesibles", "sites", "barrierefreie", "acessíveis", "siti"},
	"hosting":         {"hosting", "nextcloud", "backup", "linux", "servers", "email", "mastodon", "alojamiento", "hébergement", "servidores", "hospedagem", "server"},
	"data-crm":        {"civicrm", "migration", "data", "donor", "crm", "salesforce", "odoo", "database", "migración", "datos", "données", "datenmigration", "migração", "migrazione", "reporting"},
	"design":          {"design", "branding", "illustration", "video", "logo", "identity", "diseño", "identidad", "graphisme", "gestaltung"},
	"it-support":      {"support", "helpdesk", "network", "laptops", "printers", "soporte", "assistance", "suporte", "remote"},
	"training":        {"training", "moodle", "workshops", "facilitation", "formación", "formation", "schulungen", "formazione", "translation", "documentation"},
	"security":        {"security", "privacy", "gdpr", "encryption", "audit", "seguridad", "sécurité", "datenschutz", "activists"},
	"strategy":        {"strategy", "fundraising", "campaigns", "governance", "consulting", "estrategia", "consultoría", "conseil", "cooperatives"},
	"other":           {"translation", "accounting", "legal", "bookkeeping", "podcasts", "traducción", "traduction", "events", "nonprofits"},
}

// languageWords are languages as people add them to a search.
var languageWords = []string{"spanish", "french", "english", "german", "portuguese", "italian", "español", "français"}
