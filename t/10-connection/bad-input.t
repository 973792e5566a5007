# Bad input fails clearly, never reaches the server half-written, and leaves
# the client usable; bad options croak naming the option.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $key  = FIORTest::unique_key('bad');

subtest 'options' => sub {
    like(
        dies { Future::IO::Redis->new( bogus => 1 ) },
        qr/unknown option 'bogus'/,
        'unknown option'
    );
    like( dies { Future::IO::Redis->new( port => 'abc' ) }, qr/option 'port'/, 'non-numeric port' );
    like( dies { Future::IO::Redis->new( port => 70000 ) }, qr/option 'port'/,
        'port out of range' );
    like(
        dies { Future::IO::Redis->new( request_timeout => -1 ) },
        qr/option 'request_timeout'/,
        'negative timeout'
    );
    like(
        dies { Future::IO::Redis->new( connect_timeout => 'soon' ) },
        qr/option 'connect_timeout'/,
        'non-numeric timeout'
    );
    like(
        dies { Future::IO::Redis->new( database => -2 ) },
        qr/option 'database'/,
        'negative database'
    );
    like( dies { Future::IO::Redis->new( protocol => 4 ) }, qr/option 'protocol'/, 'protocol 4' );
    like(
        dies { Future::IO::Redis->new( reconnect_jitter => 2 ) },
        qr/option 'reconnect_jitter'/,
        'jitter > 1'
    );
    like(
        dies { Future::IO::Redis->new( on_error => 'x' ) },
        qr/option 'on_error'/,
        'callback not code'
    );
    like(
        dies { Future::IO::Redis->new( tls => { nope => 1 } ) },
        qr/option 'tls'.*nope/,
        'unknown tls key'
    );
    like(
        dies { Future::IO::Redis->new( tls => { ca_file => '/no/such/ca.pem' } ) },
        qr/option 'tls'/,
        'missing CA file'
    );
    like(
        dies { Future::IO::Redis->new( client_name => 'has space' ) },
        qr/option 'client_name'/,
        'client name with space'
    );
    like( dies { Future::IO::Redis->new( uri => 'http://example' ) }, qr/URI/i, 'unparseable URI' );
    my $e = dies { Future::IO::Redis->new( uri => 'redis://u:hunter2@host:notaport' ) };
    like( $e, qr/URI/i, 'bad port in URI' );
    unlike( $e, qr/hunter2/, 'URI password not in the message' );
    ok(
        lives { Future::IO::Redis->new( password => "\xff\xfe" ) },
        'a password may be any bytes (Redis passwords are binary-safe)'
    );
    ok( lives { Future::IO::Redis->new( password => "p\x{e9}ss\x{263a}" ) },
        'a character string password is fine' );
    like(
        dies { Future::IO::Redis->new( prefix => [] ) },
        qr/option 'prefix' must be a string/,
        'a prefix that is not a string'
    );
    like(
        dies { Future::IO::Redis->new( debug => [] ) },
        qr/option 'debug' must be a true or false scalar, or a code reference/,
        'debug: a flag or a code reference'
    );
    like(
        dies { Future::IO::Redis->new( otel_tracer => 'tracer' ) },
        qr/option 'otel_tracer' must be an object with the methods create_span/,
        'otel_tracer: an object that makes spans'
    );
    like(
        dies { Future::IO::Redis->new( otel_meter => bless {}, 'NoMeter' ) },
        qr/option 'otel_meter' must be an object with the methods create_counter, create_histogram, create_up_down_counter/,
        'otel_meter: an object that makes instruments'
    );
    ok(
        lives {
            Future::IO::Redis->new(
                read_timeout      => 1,
                write_timeout     => 1,
                auto_pipeline     => 1,
                pipeline_depth    => 100,
                otel_include_args => 0,
                otel_redact       => 1,
                password          => '0'
            )
        },
        'compatibility options accepted'
    );
    is( Future::IO::Redis->new( uri => 'redis://h:7000/2', port => 7001 )->{port},
        7001, 'explicit options win over the URI' );
};

my $redis = Future::IO::Redis->new(%$srv);
$redis->connect->get;

sub fails_cleanly {
    my ( $f, $pattern, $name ) = @_;
    $loop->await($f);
    ok( $f->is_failed, "$name: failed" );
    isa_ok( $f->failure, 'Future::IO::Redis::Error' );
    like( $f->failure->message, $pattern, "$name: says why" );
}

fails_cleanly( $redis->get(undef), qr/argument 1 is undef/, 'undef key' );
fails_cleanly(
    $redis->set( $key, { a => 1 } ),
    qr/argument 2 is a reference/,
    'reference as a value'
);
fails_cleanly( $redis->set( $key, [1] ),        qr/reference/,    'array ref as a value' );
fails_cleanly( $redis->command( ['GET'], 'x' ), qr/command name/, 'non-string command name' );
fails_cleanly( $redis->command(undef),          qr/command name/, 'undef command name' );
fails_cleanly( $redis->command(),               qr/no command/,   'no command at all' );
fails_cleanly(
    $redis->command( 'NOSUCHCOMMAND', 'x' ),
    qr/unknown command/i,
    'unknown command (server error)'
);
fails_cleanly(
    $redis->command( 'subscribe', 'ch' ),
    qr/SUBSCRIBE.*reply order/,
    'SUBSCRIBE refused on the shared connection'
);
fails_cleanly( $redis->command('MONITOR'), qr/MONITOR/, 'MONITOR refused' );
fails_cleanly(
    $redis->command( 'CLIENT', 'reply', 'OFF' ),
    qr/CLIENT REPLY/,
    'CLIENT REPLY refused'
);

subtest 'commands that would undo the setup are refused' => sub {
    fails_cleanly( $redis->command('RESET'),      qr/RESET.*setup/, 'RESET' );
    fails_cleanly( $redis->command( 'HELLO', 2 ), qr/HELLO.*setup/, 'HELLO with arguments' );
    is( ref $redis->command('HELLO')->get, 'ARRAY', 'HELLO alone only reports' );
};

subtest 'a tied scalar passed twice' => sub {

    # Regression: the first argument's buffer was read after the second's
    # FETCH had freed it (use after free; garbage reached the server).
    {

        package GrowingTie;
        sub TIESCALAR { my $n = 0;     bless \$n, shift }
        sub FETCH     { my $n = shift; ++$$n == 1 ? 'k' x 20 : 'v' x 100_000 }
        sub STORE     { }
    }
    tie my $tied, 'GrowingTie';
    is( $redis->command( 'SET', $tied, $tied )->get, 'OK', 'SET with the same tied scalar twice' );
    is( $redis->command( 'STRLEN', 'k' x 20 )->get, 100_000,
        'value is what the second FETCH gave' );
    $redis->del( 'k' x 20 )->get;
};

# Regression: the FETCH of a later argument reallocated an earlier one,
# which was then sent from freed memory (garbage reached the server).
subtest 'a later argument changing an earlier one' => sub {
    our $grown = 'A' x 4000;
    tie my $fetch, 'FIORTest::Grow';
    is( $redis->command( 'SET', $grown, $fetch )->get, 'OK', 'sent' );
    is( $redis->get( 'B' x 9000 )->get,
        'v', 'under the name the argument had when it was sent, intact' );
    $redis->del( 'B' x 9000, 'A' x 4000 )->get;
};

# Regression: an object of a class without overloading went out as
# "Class=HASH(0x...)" the first time (Perl had not yet looked at the class's
# overload table) and was refused afterwards.
subtest 'objects: sent as their text only when they stringify' => sub {
    for my $try ( 1 .. 2 ) {
        my $plain = FIORTest::Plain->new;
        fails_cleanly(
            $redis->set( $key, $plain ),
            qr/argument 2 is a reference/,
            "a plain object is refused (call $try)"
        );
    }
    my $text = bless {}, 'FIORTest::Text';
    is( $redis->set( $key, $text )->get, 'OK',      'an object that stringifies is sent' );
    is( $redis->get($key)->get,          'as text', 'as its text' );
};

subtest 'refusals see through objects that stringify' => sub {
    {

        package WordObject;
        use overload '""' => sub { ${ $_[0] } }, fallback => 1;
    }
    my $word = bless \( my $w = 'SUBSCRIBE' ), 'WordObject';
    fails_cleanly( $redis->command( $word, 'ch' ), qr/SUBSCRIBE/, 'SUBSCRIBE as an object' );
    is( $redis->ping->get, 'PONG', 'connection still answers commands' );
};

subtest 'absurd timeouts are refused or left to the server, never a crash' => sub {
    like(
        dies { Future::IO::Redis->new( request_timeout => 1e300 ) },
        qr/option 'request_timeout'/,
        'request_timeout => 1e300'
    );
    like(
        dies { Future::IO::Redis->new( reconnect_delay_max => 1.6e19 ) },
        qr/option 'reconnect_delay_max'/,
        'reconnect_delay_max => 1.6e19'
    );
    my $f = $redis->command( 'BLPOP', "$key:none", '1e300' );
    $loop->await($f);
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Redis' );    # the server's "out of range"
    is( $redis->ping->get, 'PONG', 'client still usable' );
};

is( $redis->set( $key, 'still fine' )->get, 'OK',         'client usable after bad input' );
is( $redis->get($key)->get,                 'still fine', 'and nothing half-written was sent' );

{

    package StringyKey;
    use overload '""' => sub { 'stringy' }, fallback => 1;
}
my $obj = bless {}, 'StringyKey';
is( $redis->set( "$key:obj", $obj )->get, 'OK',      'an object that stringifies is a string' );
is( $redis->get("$key:obj")->get,         'stringy', 'sent as its string' );

$redis->del( $key, "$key:obj" )->get;
$redis->disconnect;
done_testing;

package FIORTest::Plain;
sub new { return bless {}, shift }

package FIORTest::Text;
use overload '""' => sub { 'as text' }, fallback => 1;

package FIORTest::Grow;
sub TIESCALAR { return bless {}, shift }
sub FETCH     { $main::grown = 'B' x 9000; return 'v' }
