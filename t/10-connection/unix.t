# Unix sockets: the path option and redis+unix:// URIs.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('unix');
my $key  = FIORTest::unique_key('unix');

my $redis = Future::IO::Redis->new( path => $srv->{path} );
is( $redis->connect->get->ping->get, 'PONG', 'path option' );
$redis->set( $key, 'over the socket' )->get;
like(
    $redis->command( 'CLIENT', 'INFO' )->get,
    qr/addr=\S*\.sock|addr=\/|laddr=\S*sock/,
    'server sees a unix client'
);

my $uri = Future::IO::Redis->new( uri => "redis+unix://$srv->{path}?db=5" );
is( $uri->{path},     $srv->{path}, 'path from the URI' );
is( $uri->{database}, 5,            'db from the URI' );
$uri->connect->get;
like( $uri->command( 'CLIENT', 'INFO' )->get, qr/\bdb=5\b/, 'database 5 selected' );
is( $uri->command( 'SELECT', 0 )->get, 'OK',              'switch back' );
is( $uri->get($key)->get,              'over the socket', 'same server' );

my $missing = Future::IO::Redis->new( path => "$srv->{path}.missing" );
my $f       = $missing->connect;
$loop->await($f);
isa_ok( $f->failure, 'Future::IO::Redis::Error::Connection' );
is( $f->failure->path,                        "$srv->{path}.missing", 'error names the path' );
is( [ $f->failure->host, $f->failure->port ], [ undef, undef ],       'and no TCP endpoint' );
is( $f->failure->reason,                      'connect',              'reason in a word' );
is( [ $missing->{host}, $missing->{port} ], [ undef, undef ], 'a unix client has no host or port' );

$redis->del($key)->get;
$_->disconnect for $redis, $uri;
done_testing;
