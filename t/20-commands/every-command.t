# Every command and sub-command the running server lists in COMMAND has a
# method, and the methods send the right words: sub-commands as their own
# word, dashes kept (CLIENT NO-EVICT), containers taking the sub-command.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $srv   = FIORTest::server('plain');
my $redis = Future::IO::Redis->new(%$srv);

my $info = $redis->command('COMMAND')->get;
my @names;
for my $entry (@$info) {
    push @names, $entry->[0], map { $_->[0] } @{ $entry->[9] || [] };
}
ok( @names > 300, scalar(@names) . ' commands and sub-commands listed' );

my @missing;
for my $name ( sort @names ) {
    ( my $method = lc $name ) =~ tr/| -/___/;
    push @missing, $name unless Future::IO::Redis->can($method);
}
is( \@missing, [], 'a method for each' );

# One of each kind, checked by its effect.
my $key = FIORTest::unique_key('every');
is( $redis->set( $key, 12 )->get,              'OK',  'set' );
is( $redis->object_encoding($key)->get,        'int', 'object_encoding sends OBJECT ENCODING' );
is( $redis->object( 'ENCODING', $key )->get,   'int', 'object takes the sub-command' );
is( $redis->client_no_evict('off')->get,       'OK',  'client_no_evict sends CLIENT NO-EVICT' );
is( $redis->client_setname('fior-every')->get, 'OK',  'client_setname' );
is( $redis->client_getname->get,                      'fior-every',       'client_getname' );
is( $redis->config_get('maxmemory-policy')->get->[0], 'maxmemory-policy', 'config_get' );
is( $redis->command_count->get, scalar @$info, 'command_count: sub-command of COMMAND' );
is( $redis->command( 'COMMAND', 'COUNT' )->get, scalar @$info, 'command stays the raw sender' );
is( $redis->del($key)->get,                     1,             'del' );
like(
    dies { $redis->client('NO-SUCH-SUBCOMMAND')->get },
    qr/unknown subcommand/i,
    'a container passes any sub-command on, and the server judges it'
);
is( $redis->ping->get, 'PONG', 'still usable' );

done_testing;
