# IPv6: a literal ::1 address, and a name that resolves to several
# addresses (each tried in turn).
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
skip_all 'the plain server does not listen on ::1 here (FIOR_TEST_IPV6 unset)'
    unless $ENV{FIOR_TEST_IPV6};

my $v6 = Future::IO::Redis->new( host => '::1', port => $srv->{port} );
is( $v6->connect->get->ping->get, 'PONG', 'connected to ::1' );
like( $v6->command( 'CLIENT', 'INFO' )->get, qr/addr=\[?::1\]?:/, 'server sees an IPv6 peer' );
$v6->disconnect;

my $uri = Future::IO::Redis->new( uri => "redis://[::1]:$srv->{port}/0" );
is( $uri->{host},    '::1',  'bracketed IPv6 host from a URI' );
is( $uri->ping->get, 'PONG', 'and it connects' );
$uri->disconnect;

my $name = Future::IO::Redis->new( host => 'localhost', port => $srv->{port} );
is( $name->ping->get, 'PONG', 'localhost (::1 and 127.0.0.1) connects' );
$name->disconnect;
done_testing;
