# The generated modules are exactly what script/regen-commands makes from
# share/commands.json (STYLE: CI fails when regenerating would change them),
# and the data is a whole server's command table.
use Test2::V0;
use Cwd qw(abs_path);

my $script = abs_path('script/regen-commands');
require $script;

my %out = FIOR::RegenCommands::generated();
for my $kind ( sort keys %out ) {
    my ( $file, $want ) = @{ $out{$kind} };
    my $have = FIOR::RegenCommands::read_file($file);
    ok( defined $have && $have eq $want, "$file is up to date" )
        or diag "regenerate it: make regen (or perl script/regen-commands)";
}

my $data = FIOR::RegenCommands::load_data();
like( $data->{server}, qr/\Aredis 7\./, 'taken from a Redis 7 server' );
my @commands    = keys %{ $data->{commands} };
my @subcommands = map { keys %{ $_->{subcommands} || {} } } values %{ $data->{commands} };
ok( @commands > 200,    scalar(@commands) . ' commands' );
ok( @subcommands > 100, scalar(@subcommands) . ' sub-commands' );
for my $name (qw(get set hset xreadgroup eval client config)) {
    ok( $data->{commands}{$name}{summary}, "$name has its documentation" );
}
ok( $data->{commands}{client}{subcommands}{'client|no-evict'}, 'CLIENT NO-EVICT is there' );

done_testing;
